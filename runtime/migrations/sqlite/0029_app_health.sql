-- Per-app health for the operator's dashboard, per minute over the last
-- hour (older rows are deleted). Every node counts in memory and adds what
-- it counted since its last flush to the minute's row, so the nodes of a
-- cluster sum up. Latency is kept as counts per fixed bucket (upper bounds
-- 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500 ms, 1, 2.5, 10 s and
-- above), so a p99 can be read from the sum over nodes.
CREATE TABLE app_health (
    app_id       TEXT NOT NULL,
    -- Start of the minute, unix ms.
    minute       BIGINT NOT NULL,
    -- Bot events handled and web requests served.
    invocations  BIGINT NOT NULL,
    -- Those that failed (trap, timeout, handler error, not committed, a 5xx).
    errors       BIGINT NOT NULL,
    b00 BIGINT NOT NULL, b01 BIGINT NOT NULL, b02 BIGINT NOT NULL, b03 BIGINT NOT NULL,
    b04 BIGINT NOT NULL, b05 BIGINT NOT NULL, b06 BIGINT NOT NULL, b07 BIGINT NOT NULL,
    b08 BIGINT NOT NULL, b09 BIGINT NOT NULL, b10 BIGINT NOT NULL, b11 BIGINT NOT NULL,
    b12 BIGINT NOT NULL, b13 BIGINT NOT NULL, b14 BIGINT NOT NULL, b15 BIGINT NOT NULL,
    PRIMARY KEY (app_id, minute)
);
CREATE INDEX app_health_by_minute ON app_health (minute);

-- Jobs queued or running per app and kind, the most any node saw in the
-- minute; the row with app_id '' and kind '*' holds the host-wide total
-- and marks the minute as sampled (a missing app row then means none).
CREATE TABLE queue_depth (
    minute  BIGINT NOT NULL,
    app_id  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    depth   BIGINT NOT NULL,
    PRIMARY KEY (minute, app_id, kind)
);
