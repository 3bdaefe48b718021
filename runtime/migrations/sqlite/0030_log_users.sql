-- The user an app's log line was written for: the id the app itself sees
-- for the invocation's user (app-scoped, `u_…`), so a developer can follow
-- one user's trail (`miniapp logs APP --user u_…`); NULL when the
-- invocation had no user (a timer) or the line was the host's.
ALTER TABLE app_logs ADD COLUMN user_id TEXT;
