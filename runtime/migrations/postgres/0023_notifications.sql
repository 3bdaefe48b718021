-- What `notify` sent: one row per message an app wrote to a user outside
-- their events, kept an hour (the window of the per-user hourly bound,
-- which is counted here at the call and again at commit).
CREATE TABLE notifications (
    app_id      TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    sent_at     BIGINT NOT NULL
);
CREATE INDEX notifications_by_user ON notifications (app_id, account_id, sent_at);
