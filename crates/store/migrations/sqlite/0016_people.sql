-- People. A user signs in (password as an argon2id hash, or the installation's OpenID Connect
-- provider by verified email) and is a member of workspaces, each with a role. A session is
-- stored as the SHA-256 of its cookie's secret, with the user's session epoch at sign-in: a
-- disabled user, a changed role or a new password bumps the epoch and ends every session.
-- Invitations and password resets are single-use links stored as the SHA-256 of their secret.
-- API keys gain a role; posts and their events record who acted (kind and id of a principal).
CREATE TABLE users (
    id             BLOB PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT,
    session_epoch  INTEGER NOT NULL DEFAULT 0,
    created_at_ms  INTEGER NOT NULL,
    disabled_at_ms INTEGER
);

CREATE TABLE memberships (
    user_id       BLOB NOT NULL REFERENCES users(id),
    workspace_id  BLOB NOT NULL REFERENCES workspaces(id),
    role          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, workspace_id)
);
CREATE INDEX memberships_by_workspace ON memberships (workspace_id);

CREATE TABLE user_sessions (
    secret_hash   TEXT PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users(id),
    workspace_id  BLOB NOT NULL REFERENCES workspaces(id),
    epoch         INTEGER NOT NULL,
    time_zone     TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX user_sessions_by_user ON user_sessions (user_id);
CREATE INDEX user_sessions_by_expiry ON user_sessions (expires_at_ms);

CREATE TABLE invitations (
    id              BLOB PRIMARY KEY NOT NULL,
    workspace_id    BLOB NOT NULL REFERENCES workspaces(id),
    email           TEXT NOT NULL,
    role            TEXT NOT NULL,
    secret_hash     TEXT NOT NULL UNIQUE,
    invited_by_kind TEXT NOT NULL,
    invited_by_id   BLOB,
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    accepted_at_ms  INTEGER,
    revoked_at_ms   INTEGER
);
CREATE INDEX invitations_by_workspace ON invitations (workspace_id, created_at_ms);

CREATE TABLE password_resets (
    secret_hash   TEXT PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users(id),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    used_at_ms    INTEGER
);

CREATE TABLE sign_in_failures (
    email TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_by_email ON sign_in_failures (email, at_ms);

ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';
ALTER TABLE posts ADD COLUMN created_by_kind TEXT;
ALTER TABLE posts ADD COLUMN created_by_id BLOB;
ALTER TABLE post_events ADD COLUMN actor_kind TEXT NOT NULL DEFAULT 'service';
ALTER TABLE post_events ADD COLUMN actor_id BLOB;
