-- Account-level notices recorded once per account and key (e.g. "the refresh token ends in 30
-- days"), so a warning goes out once even across restarts and workers.
CREATE TABLE account_notices (
    account_id      UUID NOT NULL REFERENCES accounts(id),
    notice          TEXT NOT NULL,
    recorded_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (account_id, notice)
);
