-- Signature requests of a file (`identity.request-file-signature`): the
-- file signed (its sha256 is the request's document_sha256), and what the
-- signer is shown of it (JSON: id, name, media_type, size, sha256,
-- preview), kept after the file itself is gone. A file with a pending
-- request does not expire while it waits.
ALTER TABLE signatures ADD COLUMN file_id TEXT;
ALTER TABLE signatures ADD COLUMN file TEXT;
CREATE INDEX signatures_by_file ON signatures (file_id);
