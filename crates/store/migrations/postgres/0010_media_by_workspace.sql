-- The media library: a workspace's uploads, newest first, a page at a time.
CREATE INDEX media_assets_by_workspace ON media_assets (workspace_id, created_at_ms DESC, id DESC);
