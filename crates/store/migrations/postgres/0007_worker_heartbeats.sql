-- When each worker process last showed that its workers are running (readiness: a process that
-- is supposed to run workers is not ready when its heartbeat is stale). Numbered 0007 because
-- 0006 is reserved for another change in flight; sqlx applies any unapplied version.
CREATE TABLE worker_heartbeats (
    worker     TEXT PRIMARY KEY NOT NULL,
    seen_at_ms BIGINT NOT NULL
);
