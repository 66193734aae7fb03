-- Outbound webhooks: the endpoints a workspace registers (the signing secret sealed like
-- tokens), the event types each wants, one delivery per event and endpoint (written in the same
-- transaction as the change that caused it, claimed with a lease like jobs), and every attempt
-- of a delivery for the delivery log.
CREATE TABLE webhook_endpoints (
    id                   BLOB PRIMARY KEY NOT NULL,
    workspace_id         BLOB NOT NULL REFERENCES workspaces(id),
    url                  TEXT NOT NULL,
    description          TEXT NOT NULL,
    secret               BLOB NOT NULL,
    created_at_ms        INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since_ms     INTEGER,
    paused_at_ms         INTEGER,
    paused_reason        TEXT
);
CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints (workspace_id);

CREATE TABLE webhook_endpoint_events (
    endpoint_id BLOB NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

CREATE TABLE webhook_deliveries (
    id                 BLOB PRIMARY KEY NOT NULL,
    endpoint_id        BLOB NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id           BLOB NOT NULL,
    event_type         TEXT NOT NULL,
    payload            TEXT NOT NULL,
    status             TEXT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    locked_by          TEXT,
    locked_until_ms    INTEGER,
    last_status_code   INTEGER,
    last_error         TEXT,
    created_at_ms      INTEGER NOT NULL,
    completed_at_ms    INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at_ms);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at_ms);

CREATE TABLE webhook_attempts (
    delivery_id BLOB NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms  INTEGER NOT NULL,
    error       TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
