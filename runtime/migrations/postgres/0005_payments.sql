-- Payments: an append-only double-entry ledger (integer minor units, one
-- currency per account), invoices, refunds, and the outbox of payment
-- events delivered to apps until they handle them.

CREATE TABLE ledger_accounts (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    currency    TEXT NOT NULL,
    balance     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (kind, owner_id)
);

CREATE TABLE ledger_transactions (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    reference   TEXT,
    unique_key  TEXT UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE ledger_entries (
    id              TEXT PRIMARY KEY,
    transaction_id  TEXT NOT NULL REFERENCES ledger_transactions(id),
    account_id      TEXT NOT NULL REFERENCES ledger_accounts(id),
    amount          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX ledger_entries_by_account ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_by_transaction ON ledger_entries (transaction_id);

CREATE TABLE invoices (
    id               TEXT PRIMARY KEY,
    app_id           TEXT NOT NULL REFERENCES apps(id),
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    chat_id          TEXT,
    message_id       TEXT,
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    title            TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    status           TEXT NOT NULL,
    refunded         BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    paid_at          BIGINT,
    created_at       BIGINT NOT NULL,
    UNIQUE (app_id, idempotency_key)
);
CREATE INDEX invoices_by_account ON invoices (account_id, status, id);

CREATE TABLE payment_events (
    id               TEXT PRIMARY KEY,
    app_id           TEXT NOT NULL,
    invoice_id       TEXT NOT NULL UNIQUE,
    chat_id          TEXT,
    account_id       TEXT NOT NULL,
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    delivered_at     BIGINT,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL
);
CREATE INDEX payment_events_due ON payment_events (delivered_at, next_attempt_at);
