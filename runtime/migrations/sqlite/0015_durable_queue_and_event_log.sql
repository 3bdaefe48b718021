-- One durable queue for everything delivered to apps later, and the chat
-- event log whose sequence follows commit order.

-- A job: one event owed to one app. Its id is the event's id as the app
-- sees it (Telegram's update_id): stable across retries. A (app, lane)
-- pair runs its jobs one at a time, in id order; lane is the chat.
-- AUTOINCREMENT: an id is never handed out twice, even after the rows
-- holding the largest ids were pruned (apps de-duplicate on it).
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id       TEXT NOT NULL,
    lane         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    account_id   TEXT,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    run_at       BIGINT NOT NULL,
    lease_until  BIGINT,
    leased_by    TEXT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX jobs_pending ON jobs (app_id, lane, id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_by_app ON jobs (app_id, status, id);
CREATE INDEX jobs_finished ON jobs (status, finished_at);

-- Payment events still owed move into the queue, which replaces their table.
INSERT INTO jobs (app_id, lane, kind, account_id, payload, status, attempts, run_at, created_at)
SELECT app_id, COALESCE(chat_id, ''), 'payment', account_id,
       json_object('kind', 'payment', 'id', id, 'invoice', invoice_id, 'chat', COALESCE(chat_id, ''),
                   'amount', amount, 'currency', currency),
       'queued', attempts, next_attempt_at, next_attempt_at
FROM payment_events WHERE delivered_at IS NULL ORDER BY next_attempt_at;
DROP TABLE payment_events;

-- What happened in chats, in commit order: seq comes from event_counter,
-- taken (row-locked) as the last write of the transaction that caused it.
CREATE TABLE chat_events (
    seq         INTEGER PRIMARY KEY,
    chat_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    message_id  TEXT,
    account_id  TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX chat_events_by_chat ON chat_events (chat_id, seq);

CREATE TABLE event_counter (
    id     BIGINT PRIMARY KEY,
    value  BIGINT NOT NULL
);

-- Messages are listed in the order they were committed.
ALTER TABLE messages ADD COLUMN seq BIGINT;
UPDATE messages SET seq = r.n
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM messages) AS r
WHERE r.id = messages.id;
INSERT INTO event_counter (id, value) SELECT 1, COUNT(*) FROM messages;
CREATE INDEX messages_by_chat_seq ON messages (chat_id, seq);
