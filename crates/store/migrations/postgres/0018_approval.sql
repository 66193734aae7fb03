-- Approval before publishing. A workspace can require it, and an account can override the
-- workspace ('required' or 'not_required'; NULL follows the workspace). A post's revision grows
-- with every edit of its content or time: an approval is of one revision. A review link lets
-- someone outside the team see one post exactly as it will go out and approve or reject it; its
-- secret is stored only as its SHA-256.
ALTER TABLE workspaces ADD COLUMN approval_required BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN approval TEXT;
ALTER TABLE posts ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;

CREATE TABLE review_links (
    id              UUID PRIMARY KEY NOT NULL,
    workspace_id    UUID NOT NULL REFERENCES workspaces(id),
    post_id         UUID NOT NULL REFERENCES posts(id),
    reviewer_name   TEXT NOT NULL,
    reviewer_email  TEXT,
    secret_hash     TEXT NOT NULL UNIQUE,
    created_by_kind TEXT NOT NULL,
    created_by_id   UUID,
    created_at_ms   BIGINT NOT NULL,
    expires_at_ms   BIGINT NOT NULL,
    revoked_at_ms   BIGINT
);
CREATE INDEX review_links_by_post ON review_links (post_id, created_at_ms);
CREATE INDEX review_links_by_expiry ON review_links (expires_at_ms);
