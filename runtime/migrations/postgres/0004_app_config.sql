-- Settings and secrets developers set for their apps (read by the app
-- through wasi:config/store; secrets are never returned by the API).
CREATE TABLE app_config (
    app_id      TEXT NOT NULL REFERENCES apps(id),
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    secret      BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, key)
);
