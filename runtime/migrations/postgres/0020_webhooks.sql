-- Inbound webhooks (issue #15). Each app has at most one signing secret,
-- sealed with the master key like the other secrets at rest; the developer
-- reads it once, when it is made (rotating makes a new one at once).
CREATE TABLE webhook_secrets (
    app_id      TEXT PRIMARY KEY,
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Signatures of accepted deliveries, kept until their timestamp is out of
-- the 5-minute window: a replayed request is refused.
CREATE TABLE webhook_deliveries (
    app_id      TEXT NOT NULL,
    signature   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, signature)
);
CREATE INDEX webhook_deliveries_expiry ON webhook_deliveries (expires_at);

-- The webhook names a version's manifest declares, as JSON [name, ...].
ALTER TABLE app_versions ADD COLUMN webhooks TEXT NOT NULL DEFAULT '[]';
