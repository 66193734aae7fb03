-- Outbound webhooks: the endpoints a workspace registers (the signing secret sealed like
-- tokens), the event types each wants, one delivery per event and endpoint (written in the same
-- transaction as the change that caused it, claimed with a lease like jobs), and every attempt
-- of a delivery for the delivery log.
CREATE TABLE webhook_endpoints (
    id                   UUID PRIMARY KEY,
    workspace_id         UUID NOT NULL REFERENCES workspaces(id),
    url                  TEXT NOT NULL,
    description          TEXT NOT NULL,
    secret               BYTEA NOT NULL,
    created_at_ms        BIGINT NOT NULL,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    failing_since_ms     BIGINT,
    paused_at_ms         BIGINT,
    paused_reason        TEXT
);
CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints (workspace_id);

CREATE TABLE webhook_endpoint_events (
    endpoint_id UUID NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

CREATE TABLE webhook_deliveries (
    id                 UUID PRIMARY KEY,
    endpoint_id        UUID NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id           UUID NOT NULL,
    event_type         TEXT NOT NULL,
    payload            TEXT NOT NULL,
    status             TEXT NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    locked_by          TEXT,
    locked_until_ms    BIGINT,
    last_status_code   BIGINT,
    last_error         TEXT,
    created_at_ms      BIGINT NOT NULL,
    completed_at_ms    BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at_ms);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at_ms);

CREATE TABLE webhook_attempts (
    delivery_id UUID NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt     BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    status_code BIGINT,
    latency_ms  BIGINT NOT NULL,
    error       TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
