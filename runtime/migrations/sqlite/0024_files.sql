-- Files: attachments of messages, and files apps make.
--
-- Bytes live in the object store under their sha256 (content-addressed);
-- `file_blobs` counts the files (and previews) that use each one. When a
-- count falls to 0 the background sweep deletes the object and the row.
CREATE TABLE file_blobs (
    sha256        TEXT PRIMARY KEY,
    size          BIGINT NOT NULL,
    refs          BIGINT NOT NULL,
    -- When `refs` last fell to 0; NULL while in use.
    unused_since  BIGINT
);
CREATE INDEX file_blobs_unused ON file_blobs (unused_since);

-- One uploaded or app-made file. Its id is 128 random bits (nobody finds
-- a file by guessing); who may read it is decided by membership of its
-- chat on every read.
CREATE TABLE files (
    id              TEXT PRIMARY KEY,
    chat_id         TEXT NOT NULL,
    -- `user` (an account uploaded it) or `app` (an app made it).
    owner_kind      TEXT NOT NULL,
    owner_id        TEXT NOT NULL,
    name            TEXT NOT NULL,
    -- Decided from the bytes, never from the client's header.
    media_type      TEXT NOT NULL,
    size            BIGINT NOT NULL,
    sha256          TEXT NOT NULL,
    -- A bounded-size PNG preview of an image, in file_blobs too.
    preview_sha256  TEXT,
    preview_width   INTEGER,
    preview_height  INTEGER,
    -- The message it is attached to, once sent.
    message_id      TEXT,
    -- When an unsent file goes (NULL once attached to a message).
    expires_at      BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX files_by_message ON files (message_id);
CREATE INDEX files_by_owner ON files (owner_kind, owner_id);
CREATE INDEX files_expiring ON files (expires_at);

-- A message's attachments as clients and apps see them (JSON: id, name,
-- media_type, size, sha256, preview), fixed when it is sent.
ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
