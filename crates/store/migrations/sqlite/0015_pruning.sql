-- The janitor deletes what has served its purpose, oldest first, a batch at a time: expired
-- OAuth states, inbound webhook ids older than the replay window, and finished outbound
-- deliveries (their attempts go with them) older than the delivery log is kept.
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at_ms);
CREATE INDEX inbound_webhook_events_by_age ON inbound_webhook_events (received_at_ms);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (completed_at_ms);
