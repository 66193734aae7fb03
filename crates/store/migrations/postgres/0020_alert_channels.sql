-- Alerts that reach someone. An outbound endpoint is now a channel with a `format`: `tokpost`
-- (the signed JSON event, as before), `slack`, `discord` or `telegram` (the same signed delivery,
-- its body a message for people), or `email` (a `mailto:` URL, sent through the operator's SMTP
-- server). Telegram's bot API needs the chat beside the URL: `chat_id`. An endpoint with a
-- `user_id` is that person's own alerts in the workspace (their email, their choice of events);
-- it reaches them only while they are an enabled member whose role concerns the event.
-- `alert_digests` records each workspace's daily digest once, in the transaction that queues it,
-- so that several workers never send one day twice.
ALTER TABLE webhook_endpoints ADD COLUMN format TEXT NOT NULL DEFAULT 'tokpost';
ALTER TABLE webhook_endpoints ADD COLUMN chat_id TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN user_id UUID REFERENCES users(id);
CREATE UNIQUE INDEX webhook_endpoints_personal ON webhook_endpoints (workspace_id, user_id) WHERE user_id IS NOT NULL;

CREATE TABLE alert_digests (
    workspace_id UUID NOT NULL REFERENCES workspaces(id),
    day          TEXT NOT NULL,
    queued_at_ms BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day)
);
