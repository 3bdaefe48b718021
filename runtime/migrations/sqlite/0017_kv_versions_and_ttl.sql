-- Invocations as transactions: every stored value carries a version, a
-- random number written with each change, which an invocation's commit
-- compares against the versions it read (optimistic concurrency; random,
-- not counted, so a key deleted and written again never shows an old
-- version). A value may expire: `expires_at` (unix ms) hides it from
-- reads at once and the retention sweep deletes it.
ALTER TABLE app_kv ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE app_kv ADD COLUMN expires_at BIGINT;
CREATE INDEX app_kv_expiry ON app_kv (expires_at) WHERE expires_at IS NOT NULL;
