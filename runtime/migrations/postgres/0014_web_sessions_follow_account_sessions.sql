-- A web app's session lives no longer than the account session (device)
-- that launched it: signing out or expiring that one ends it too.
ALTER TABLE web_sessions ADD COLUMN account_session_id TEXT;
