-- Web mini-apps: one-time launch-token nonces and the sessions they open.

CREATE TABLE launch_nonces (
    nonce TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
CREATE INDEX launch_nonces_expiry ON launch_nonces (expires_at);
