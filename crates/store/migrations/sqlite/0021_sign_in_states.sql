-- Signing in with the installation's OpenID Connect provider: each attempt's state, stored as
-- the SHA-256 of the value the browser carries (in the redirect and in a cookie), with the
-- nonce the ID token must repeat, the PKCE verifier (sealed like tokens, the state hash as
-- associated data) and the person's time zone. Taken once, within its lifetime.
CREATE TABLE sign_in_states (
    state_hash    TEXT PRIMARY KEY NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier BLOB NOT NULL,
    time_zone     TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    used_at_ms    INTEGER
);
CREATE INDEX sign_in_states_by_expiry ON sign_in_states (expires_at_ms);
