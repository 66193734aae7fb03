-- The workspace a job works for, so that claims take turns between workspaces: one workspace's
-- burst of due posts must not starve another's. NULL for work of no workspace.
ALTER TABLE jobs ADD COLUMN workspace_id BLOB;
UPDATE jobs SET workspace_id = COALESCE(
    (SELECT workspace_id FROM posts WHERE posts.id = jobs.post_id),
    (SELECT workspace_id FROM accounts WHERE accounts.id = jobs.account_id));
-- With `id`, the claim's order (run_at_ms, id) is the index's: a burst of thousands of jobs due
-- in the same millisecond is read a few rows at a time instead of sorted whole on every claim.
CREATE INDEX jobs_due_by_workspace ON jobs (workspace_id, run_at_ms, id) WHERE locked_by IS NULL;
