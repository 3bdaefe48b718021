-- Notifications users allowed (issue #15): a consent now records the
-- app-scoped id the app knows its user by, so an app writing to "user X"
-- outside any event can be matched to the account that allowed it. Rows
-- granted before this column existed keep NULL (their scopes never needed it).
ALTER TABLE consents ADD COLUMN app_user TEXT;
CREATE INDEX consents_by_app_user ON consents (app_id, app_user, scope);
