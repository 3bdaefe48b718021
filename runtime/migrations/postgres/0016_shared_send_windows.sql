-- The per-(app, chat) send budget of a cluster (PostgreSQL): one fixed
-- one-minute window per pair, counted in the database so every node takes
-- from the same budget. (The single SQLite node keeps it in memory; the
-- table exists on both so the schemas stay the same.)
CREATE TABLE send_windows (
    app_id        TEXT NOT NULL,
    chat_id       TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    sent          BIGINT NOT NULL,
    PRIMARY KEY (app_id, chat_id)
);
CREATE INDEX send_windows_by_start ON send_windows (window_start);
