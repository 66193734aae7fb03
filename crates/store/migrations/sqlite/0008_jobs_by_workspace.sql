-- The workspace a job works for, so that claims take turns between workspaces: one workspace's
-- burst of due posts must not starve another's. NULL for work of no workspace.
ALTER TABLE jobs ADD COLUMN workspace_id BLOB;
UPDATE jobs SET workspace_id = COALESCE(
    (SELECT workspace_id FROM posts WHERE posts.id = jobs.post_id),
    (SELECT workspace_id FROM accounts WHERE accounts.id = jobs.account_id));
CREATE INDEX jobs_due_by_workspace ON jobs (workspace_id, run_at_ms) WHERE locked_by IS NULL;
