-- Who changed an account: every connect, reconnect, refresh, disconnect and loss of access,
-- with its actor (a person, an API key, or tokpost itself). A connect is attributed to whoever
-- asked for the authorize URL, so the OAuth state remembers them.
CREATE TABLE account_events (
    id            BLOB PRIMARY KEY NOT NULL,
    account_id    BLOB NOT NULL REFERENCES accounts(id),
    at_ms         INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    message       TEXT NOT NULL,
    actor_kind    TEXT NOT NULL,
    actor_id      BLOB
);
CREATE INDEX account_events_by_account ON account_events (account_id, at_ms);

ALTER TABLE oauth_states ADD COLUMN started_by_kind TEXT NOT NULL DEFAULT 'service';
ALTER TABLE oauth_states ADD COLUMN started_by_id BLOB;
