-- Insights: TikTok's Display API gives lifetime totals only, so a post's history is the
-- snapshots tokpost takes. `stat_tracks` follows each public post from the move that recorded
-- its public id (the Display API's video id, kept as its digits) until tokpost_core::insights
-- says to stop (`next_at_ms` NULL); `post_stats` and `account_stats` are the time series. A
-- count TikTok did not give is NULL.
CREATE TABLE stat_tracks (
    post_id          UUID PRIMARY KEY NOT NULL REFERENCES posts(id),
    account_id       UUID NOT NULL REFERENCES accounts(id),
    video_id         TEXT NOT NULL,
    live_at_ms       BIGINT NOT NULL,
    next_at_ms       BIGINT,
    last_at_ms       BIGINT,
    missing_since_ms BIGINT
);
CREATE INDEX stat_tracks_due ON stat_tracks (account_id, next_at_ms);

CREATE TABLE post_stats (
    post_id  UUID NOT NULL REFERENCES posts(id),
    at_ms    BIGINT NOT NULL,
    views    BIGINT,
    likes    BIGINT,
    comments BIGINT,
    shares   BIGINT,
    PRIMARY KEY (post_id, at_ms)
);

CREATE TABLE account_stats (
    account_id UUID NOT NULL REFERENCES accounts(id),
    at_ms      BIGINT NOT NULL,
    followers  BIGINT,
    following  BIGINT,
    likes      BIGINT,
    videos     BIGINT,
    PRIMARY KEY (account_id, at_ms)
);
