-- Instants are INTEGER unix milliseconds so that they sort and compare correctly.
-- Ids are UUID v7 stored as 16-byte BLOBs. JSON documents are TEXT.

CREATE TABLE workspaces (
    id            BLOB PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE accounts (
    id                          BLOB PRIMARY KEY NOT NULL,
    workspace_id                BLOB NOT NULL REFERENCES workspaces(id),
    open_id                     TEXT NOT NULL,
    display_name                TEXT NOT NULL,
    avatar_url                  TEXT,
    scopes                      TEXT NOT NULL,
    status                      TEXT NOT NULL,
    access_token                BLOB,
    refresh_token               BLOB,
    access_token_expires_at_ms  INTEGER NOT NULL,
    refresh_token_expires_at_ms INTEGER NOT NULL,
    created_at_ms               INTEGER NOT NULL,
    updated_at_ms               INTEGER NOT NULL,
    UNIQUE (workspace_id, open_id)
);
CREATE INDEX accounts_by_access_expiry ON accounts (access_token_expires_at_ms);

CREATE TABLE creator_info (
    account_id     BLOB NOT NULL REFERENCES accounts(id),
    fetched_at_ms  INTEGER NOT NULL,
    info           TEXT NOT NULL,
    PRIMARY KEY (account_id, fetched_at_ms)
);

CREATE TABLE media_assets (
    id            BLOB PRIMARY KEY NOT NULL,
    workspace_id  BLOB NOT NULL REFERENCES workspaces(id),
    kind          TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    location      TEXT NOT NULL,
    probe         TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    UNIQUE (workspace_id, content_hash)
);

CREATE TABLE posts (
    id                       BLOB PRIMARY KEY NOT NULL,
    workspace_id             BLOB NOT NULL REFERENCES workspaces(id),
    account_id               BLOB NOT NULL REFERENCES accounts(id),
    spec                     TEXT NOT NULL,
    scheduled_at_ms          INTEGER NOT NULL,
    idempotency_key          TEXT,
    state                    TEXT NOT NULL,
    state_detail             TEXT NOT NULL,
    publish_id               TEXT,
    upload_url               TEXT,
    upload_url_expires_at_ms INTEGER,
    uploaded_bytes           INTEGER NOT NULL DEFAULT 0,
    public_post_ids          TEXT NOT NULL DEFAULT '[]',
    event_count              INTEGER NOT NULL DEFAULT 0,
    created_at_ms            INTEGER NOT NULL,
    updated_at_ms            INTEGER NOT NULL,
    UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX posts_by_workspace_schedule ON posts (workspace_id, scheduled_at_ms);
CREATE INDEX posts_by_account_state ON posts (account_id, state);

CREATE TABLE post_events (
    post_id         BLOB NOT NULL REFERENCES posts(id),
    sequence        INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    message         TEXT NOT NULL,
    native_response TEXT,
    PRIMARY KEY (post_id, sequence)
);

CREATE TABLE quota_ledger (
    id             BLOB PRIMARY KEY NOT NULL,
    account_id     BLOB NOT NULL REFERENCES accounts(id),
    kind           TEXT NOT NULL,
    post_id        BLOB,
    at_ms          INTEGER NOT NULL,
    released_at_ms INTEGER
);
CREATE INDEX quota_ledger_window ON quota_ledger (account_id, kind, at_ms);
CREATE INDEX quota_ledger_recent ON quota_ledger (at_ms);

CREATE TABLE rate_limit_windows (
    account_id      BLOB NOT NULL,
    endpoint        TEXT NOT NULL,
    window_start_ms INTEGER NOT NULL,
    count           INTEGER NOT NULL,
    PRIMARY KEY (account_id, endpoint, window_start_ms)
);

CREATE TABLE jobs (
    id              BLOB PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    account_id      BLOB,
    post_id         BLOB,
    run_at_ms       INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    locked_by       TEXT,
    locked_until_ms INTEGER,
    last_error      TEXT,
    dedupe_key      TEXT UNIQUE,
    created_at_ms   INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at_ms) WHERE locked_by IS NULL;
CREATE INDEX jobs_leased ON jobs (locked_until_ms) WHERE locked_by IS NOT NULL;

-- One row per account with a leased job: the row's existence is what serializes work for one
-- creator across workers (its primary key makes a second lease impossible).
CREATE TABLE account_leases (
    account_id      BLOB PRIMARY KEY NOT NULL,
    job_id          BLOB NOT NULL,
    locked_by       TEXT NOT NULL,
    locked_until_ms INTEGER NOT NULL
);
