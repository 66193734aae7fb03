-- Insights: TikTok's Display API gives lifetime totals only, so a post's history is the
-- snapshots tokpost takes. `stat_tracks` follows each public post from the move that recorded
-- its public id (the Display API's video id, kept as its digits) until tokpost_core::insights
-- says to stop (`next_at_ms` NULL); `post_stats` and `account_stats` are the time series. A
-- count TikTok did not give is NULL.
CREATE TABLE stat_tracks (
    post_id          BLOB PRIMARY KEY NOT NULL REFERENCES posts(id),
    account_id       BLOB NOT NULL REFERENCES accounts(id),
    video_id         TEXT NOT NULL,
    live_at_ms       INTEGER NOT NULL,
    next_at_ms       INTEGER,
    last_at_ms       INTEGER,
    missing_since_ms INTEGER
);
CREATE INDEX stat_tracks_due ON stat_tracks (account_id, next_at_ms);

CREATE TABLE post_stats (
    post_id  BLOB NOT NULL REFERENCES posts(id),
    at_ms    INTEGER NOT NULL,
    views    INTEGER,
    likes    INTEGER,
    comments INTEGER,
    shares   INTEGER,
    PRIMARY KEY (post_id, at_ms)
);

CREATE TABLE account_stats (
    account_id BLOB NOT NULL REFERENCES accounts(id),
    at_ms      INTEGER NOT NULL,
    followers  INTEGER,
    following  INTEGER,
    likes      INTEGER,
    videos     INTEGER,
    PRIMARY KEY (account_id, at_ms)
);
