-- The daily post cap TikTok enforced for a creator below the default: TikTok's cap is shared with
-- every other app the creator uses, so when it answers spam_risk_too_many_posts while our own
-- ledger counts fewer posts, the count we had is the cap that holds for now.
CREATE TABLE learned_post_caps (
    account_id      BLOB PRIMARY KEY REFERENCES accounts(id),
    cap             INTEGER NOT NULL,
    learned_at_ms   INTEGER NOT NULL
);
