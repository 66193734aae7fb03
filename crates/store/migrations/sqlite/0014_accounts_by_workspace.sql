-- GET /v1/accounts pages a workspace's accounts oldest first: this index walks a page from where
-- the previous one stopped.
CREATE INDEX accounts_by_workspace_created ON accounts (workspace_id, created_at_ms, id);
