-- One-time tickets for opening an events WebSocket, so a browser (which
-- cannot set headers on a WebSocket) never puts its bearer token in a URL.
-- Stored hashed; each works once, for a short time.
CREATE TABLE event_tickets (
    ticket_hash  TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    -- the session that asked for it: the socket lives only as long as it
    session_hash TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
CREATE INDEX event_tickets_by_expiry ON event_tickets (expires_at);
