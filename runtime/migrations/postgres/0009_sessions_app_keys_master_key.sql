-- Sessions that expire and can be revoked; signing keys per (user, app);
-- the record of which master key seals this database's secrets.
-- (PostgreSQL dialect of migrations/sqlite/0009: a random 32-hex-digit id
-- from md5(random()) for SQLite's lower(hex(randomblob(16))), and unix
-- seconds from EXTRACT(EPOCH FROM now()) for strftime('%s', 'now').)

-- One row per signed-in device. Only the sha256 of the token is kept.
-- A session expires `expires_at` (pushed forward while it is used) and is
-- signed out by setting `revoked_at`.
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    token_hash    TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX sessions_by_account ON sessions (account_id, created_at);

-- Every token issued before sessions existed becomes a session, last used
-- now, expiring after the default 30 days unless it is used (each use
-- pushes the expiry to the configured time-to-live from then).
INSERT INTO sessions (id, account_id, token_hash, label, created_at, last_used_at, expires_at, revoked_at)
SELECT md5(random()::text || clock_timestamp()::text || id), id, token_hash, 'signed up before sessions', created_at,
       CAST(FLOOR(EXTRACT(EPOCH FROM now())) AS BIGINT) * 1000,
       CAST(FLOOR(EXTRACT(EPOCH FROM now())) AS BIGINT) * 1000 + 30 * CAST(86400000 AS BIGINT),
       NULL
FROM accounts;

-- accounts.token_hash is retired (NOT NULL UNIQUE, so it keeps a value that
-- no token hashes to); tokens live in `sessions` only.
UPDATE accounts SET token_hash = 'retired:' || id;

-- One Ed25519 key per (user, app), so one person's signatures in two apps
-- cannot be linked by key. `secret_key` is sealed (see runtime/src/crypto.rs).
CREATE TABLE app_signing_keys (
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    app_id      TEXT NOT NULL REFERENCES apps(id),
    public_key  TEXT NOT NULL,
    secret_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, app_id)
);

-- The per-user keys held their seeds in plaintext and no new signature uses
-- them; signatures made with them keep their public key in `signatures`.
DROP TABLE signing_keys;

-- Which master key seals this database's secrets (its id, never the key).
CREATE TABLE master_key (
    slot         BIGINT PRIMARY KEY CHECK (slot = 1),
    key_id       TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
