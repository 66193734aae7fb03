-- Token refreshes that cannot cost an account: when the current tokens were granted (their
-- lifetime is the span to the access token's expiry), one refresh claim per account across
-- every process, and the back-off after a failed refresh.
ALTER TABLE accounts ADD COLUMN tokens_granted_at_ms BIGINT;
ALTER TABLE accounts ADD COLUMN refresh_claimed_by TEXT;
ALTER TABLE accounts ADD COLUMN refresh_claim_until_ms BIGINT;
ALTER TABLE accounts ADD COLUMN refresh_not_before_ms BIGINT;
ALTER TABLE accounts ADD COLUMN refresh_failures INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET tokens_granted_at_ms = updated_at_ms;
