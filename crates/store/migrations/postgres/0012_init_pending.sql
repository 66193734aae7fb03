-- A post whose init may have reached TikTok (its last word is an `init_requested` event that
-- no answer or move has followed): 1 while so. Cancelling and rescheduling are refused while it
-- is, in the same statement that would move the post, so a cancel can never slip in between
-- the init's record and its request.
ALTER TABLE posts ADD COLUMN init_pending INTEGER NOT NULL DEFAULT 0;
UPDATE posts SET init_pending = 1
WHERE state = 'creator_checked'
  AND EXISTS (SELECT 1 FROM post_events AS e
              WHERE e.post_id = posts.id AND e.sequence = posts.event_count AND e.kind = 'init_requested');
