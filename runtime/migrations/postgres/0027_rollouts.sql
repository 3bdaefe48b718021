-- Staged rollout (WeChat's grey release, for server-side code): an
-- approved version runs in `rollout_percent` % of the app's chats, chosen
-- by a stable hash of (app id, chat id), while `active_version` (the
-- stable one) runs everywhere else and for events outside a chat. No
-- rollout: `rollout_version` is NULL and `rollout_percent` 0.
ALTER TABLE apps ADD COLUMN rollout_version TEXT;
ALTER TABLE apps ADD COLUMN rollout_percent INTEGER NOT NULL DEFAULT 0;
