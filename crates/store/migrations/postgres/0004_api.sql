-- API access: keys (only the SHA-256 of the secret), single-use OAuth states bound to the
-- workspace that asked (PKCE verifier sealed like tokens), and the ids of inbound webhook events
-- already handled (TikTok may deliver an event more than once).
CREATE TABLE api_keys (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    secret_hash   TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id);

CREATE TABLE oauth_states (
    state_hash    TEXT PRIMARY KEY NOT NULL,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    pkce_verifier BYTEA,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms    BIGINT
);

CREATE TABLE inbound_webhook_events (
    event_id       TEXT PRIMARY KEY NOT NULL,
    received_at_ms BIGINT NOT NULL
);

CREATE INDEX posts_by_publish_id ON posts (publish_id);
CREATE INDEX accounts_by_open_id ON accounts (open_id);
