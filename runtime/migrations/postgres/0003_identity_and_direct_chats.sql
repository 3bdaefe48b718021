-- Consents, e-signatures, direct chats between a user and an app.
-- (PostgreSQL dialect of migrations/sqlite/0003: BYTEA for BLOB.)

ALTER TABLE chats ADD COLUMN direct_app TEXT;

CREATE TABLE consents (
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    app_id      TEXT NOT NULL REFERENCES apps(id),
    scope       TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, app_id, scope)
);

CREATE TABLE signing_keys (
    account_id  TEXT PRIMARY KEY REFERENCES accounts(id),
    public_key  TEXT NOT NULL,
    secret_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE signatures (
    id               TEXT PRIMARY KEY,
    app_id           TEXT NOT NULL REFERENCES apps(id),
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    chat_id          TEXT,
    title            TEXT NOT NULL,
    document         BYTEA NOT NULL,
    document_sha256  TEXT NOT NULL,
    status           TEXT NOT NULL,
    signed_payload   TEXT,
    signature        TEXT,
    public_key       TEXT,
    created_at       BIGINT NOT NULL,
    decided_at       BIGINT
);
CREATE INDEX signatures_by_account ON signatures (account_id, status, id);
