-- The sweep forgets request windows older than the longest rate window (one hour) in one
-- range scan, instead of every rate-limit read deleting its accounts' old rows first.
CREATE INDEX rate_limit_windows_by_start ON rate_limit_windows (window_start_ms);
