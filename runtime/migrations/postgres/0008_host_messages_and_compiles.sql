-- Messages the host renders for an app (an invoice and its Pay button)
-- carry what they show; the app cannot edit or delete them.
ALTER TABLE messages ADD COLUMN host_kind TEXT;
UPDATE messages SET host_kind = 'invoice'
 WHERE id IN (SELECT message_id FROM invoices WHERE message_id IS NOT NULL);

-- Whether an uploaded version compiled: 'compiling', 'compiled' or
-- 'failed'. Versions from before this column existed had compiled.
ALTER TABLE app_versions ADD COLUMN compile_status TEXT NOT NULL DEFAULT 'compiled';
