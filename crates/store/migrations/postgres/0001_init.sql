-- Instants are BIGINT unix milliseconds (the same semantics as the SQLite schema) so that they sort and compare correctly.
-- Ids are native UUIDs (v7). JSON documents are TEXT (compared byte for byte by the post CAS).

CREATE TABLE workspaces (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE accounts (
    id                          UUID PRIMARY KEY,
    workspace_id                UUID NOT NULL REFERENCES workspaces(id),
    open_id                     TEXT NOT NULL,
    display_name                TEXT NOT NULL,
    avatar_url                  TEXT,
    scopes                      TEXT NOT NULL,
    status                      TEXT NOT NULL,
    access_token                BYTEA,
    refresh_token               BYTEA,
    access_token_expires_at_ms  BIGINT NOT NULL,
    refresh_token_expires_at_ms BIGINT NOT NULL,
    created_at_ms               BIGINT NOT NULL,
    updated_at_ms               BIGINT NOT NULL,
    UNIQUE (workspace_id, open_id)
);
CREATE INDEX accounts_by_access_expiry ON accounts (access_token_expires_at_ms);

CREATE TABLE creator_info (
    account_id     UUID NOT NULL REFERENCES accounts(id),
    fetched_at_ms  BIGINT NOT NULL,
    info           TEXT NOT NULL,
    PRIMARY KEY (account_id, fetched_at_ms)
);

CREATE TABLE media_assets (
    id            UUID PRIMARY KEY,
    workspace_id  UUID NOT NULL REFERENCES workspaces(id),
    kind          TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    location      TEXT NOT NULL,
    probe         TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (workspace_id, content_hash)
);

CREATE TABLE posts (
    id                       UUID PRIMARY KEY,
    workspace_id             UUID NOT NULL REFERENCES workspaces(id),
    account_id               UUID NOT NULL REFERENCES accounts(id),
    spec                     TEXT NOT NULL,
    scheduled_at_ms          BIGINT NOT NULL,
    idempotency_key          TEXT,
    state                    TEXT NOT NULL,
    state_detail             TEXT NOT NULL,
    publish_id               TEXT,
    upload_url               TEXT,
    upload_url_expires_at_ms BIGINT,
    uploaded_bytes           BIGINT NOT NULL DEFAULT 0,
    public_post_ids          TEXT NOT NULL DEFAULT '[]',
    event_count              BIGINT NOT NULL DEFAULT 0,
    created_at_ms            BIGINT NOT NULL,
    updated_at_ms            BIGINT NOT NULL,
    UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX posts_by_workspace_schedule ON posts (workspace_id, scheduled_at_ms);
CREATE INDEX posts_by_account_state ON posts (account_id, state);

CREATE TABLE post_events (
    post_id         UUID NOT NULL REFERENCES posts(id),
    sequence        BIGINT NOT NULL,
    at_ms           BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    message         TEXT NOT NULL,
    native_response TEXT,
    PRIMARY KEY (post_id, sequence)
);

CREATE TABLE quota_ledger (
    id             UUID PRIMARY KEY,
    account_id     UUID NOT NULL REFERENCES accounts(id),
    kind           TEXT NOT NULL,
    post_id        UUID,
    at_ms          BIGINT NOT NULL,
    released_at_ms BIGINT
);
CREATE INDEX quota_ledger_window ON quota_ledger (account_id, kind, at_ms);
CREATE INDEX quota_ledger_recent ON quota_ledger (at_ms);

CREATE TABLE rate_limit_windows (
    account_id      UUID NOT NULL,
    endpoint        TEXT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    count           BIGINT NOT NULL,
    PRIMARY KEY (account_id, endpoint, window_start_ms)
);

CREATE TABLE jobs (
    id              UUID PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    account_id      UUID,
    post_id         UUID,
    run_at_ms       BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    locked_by       TEXT,
    locked_until_ms BIGINT,
    last_error      TEXT,
    dedupe_key      TEXT UNIQUE,
    created_at_ms   BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at_ms) WHERE locked_by IS NULL;
CREATE INDEX jobs_leased ON jobs (locked_until_ms) WHERE locked_by IS NOT NULL;

-- One row per account with a leased job: the row's existence is what serializes work for one
-- creator across workers (its primary key makes a second lease impossible).
CREATE TABLE account_leases (
    account_id      UUID PRIMARY KEY,
    job_id          UUID NOT NULL,
    locked_by       TEXT NOT NULL,
    locked_until_ms BIGINT NOT NULL
);
