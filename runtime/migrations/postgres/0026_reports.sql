-- Reports of a message or an app by a member, for the operator's queue.
--
-- `target` names what was reported (`message:<chat>/<id>` or `app:<id>`):
-- a reporter has at most one open report per target. `snapshot` (JSON)
-- keeps what the operator needs to judge it even after the message is
-- deleted: the sender, the text, the files' names, types and sha256, when
-- it was sent; or the app and its running version.
CREATE TABLE reports (
    id           TEXT PRIMARY KEY,
    reporter_id  TEXT NOT NULL,
    -- `message` or `app`.
    target_kind  TEXT NOT NULL,
    target       TEXT NOT NULL,
    chat_id      TEXT,
    message_id   TEXT,
    -- The app reported, or the app that sent the reported message.
    app_id       TEXT,
    reason       TEXT NOT NULL,
    note         TEXT NOT NULL,
    snapshot     TEXT NOT NULL,
    -- `open`, `dismissed` or `actioned`.
    status       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    -- The operator's action (`dismiss`, `delete_message`, `suspend_app`),
    -- its note, and when.
    action       TEXT,
    action_note  TEXT,
    decided_at   BIGINT
);
CREATE UNIQUE INDEX reports_one_open ON reports (reporter_id, target) WHERE status = 'open';
CREATE INDEX reports_by_status ON reports (status, id);
