-- Autofix: a request to turn a media item TikTok would reject into a new one it accepts, run as
-- a `fix_media` job. The original item is never changed; `result_media_id` names the new one.
-- `post_id` and `post_revision`: swap the result into this post, if it is still at that
-- revision. `progress_permille` and `stage` are written while ffmpeg runs; `changes` (JSON) says
-- what was changed and why; `message` why it could not be fixed, or what became of the swap.
CREATE TABLE media_fixes (
    id                BLOB PRIMARY KEY NOT NULL,
    workspace_id      BLOB NOT NULL REFERENCES workspaces(id),
    media_id          BLOB NOT NULL REFERENCES media_assets(id),
    options           TEXT NOT NULL,
    post_id           BLOB REFERENCES posts(id),
    post_revision     INTEGER,
    requested_by_kind TEXT NOT NULL,
    requested_by_id   BLOB,
    state             TEXT NOT NULL,
    progress_permille INTEGER NOT NULL DEFAULT 0,
    stage             TEXT,
    changes           TEXT NOT NULL DEFAULT '[]',
    message           TEXT,
    result_media_id   BLOB REFERENCES media_assets(id),
    created_at_ms     INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL
);
CREATE INDEX media_fixes_by_media ON media_fixes (media_id, created_at_ms);
