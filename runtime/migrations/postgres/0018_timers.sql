-- Timers (the `schedule` capability): one row per pending timer of an app.
-- A due timer becomes a job (a `timer` event in its chat's lane) in the
-- transaction that deletes it (one-shot) or moves it to its next slot
-- (recurring: `cron` set), so it fires once across nodes. `name` is set for
-- the schedules a manifest declares (chat_id '' — app-wide); those rows are
-- replaced whenever another version of the app becomes the running one.
CREATE TABLE timers (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    account_id  TEXT,
    payload     TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    cron        TEXT,
    name        TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX timers_due ON timers (due_at);
CREATE INDEX timers_by_app ON timers (app_id, chat_id, due_at);

-- The schedules a version's manifest declares, as JSON [[name, cron], ...];
-- they run (as `timers` rows with a name) while that version is the running
-- one and was granted `schedule`.
ALTER TABLE app_versions ADD COLUMN schedules TEXT NOT NULL DEFAULT '[]';
