-- Every message insert (each post, each bot reply) wrote this index too,
-- and no statement reads it any more: a message is found by its id (the
-- primary key's index) and a chat's messages by (chat_id, seq)
-- (`messages_by_chat_seq`, since 0015).
-- (PostgreSQL dialect of migrations/sqlite/0034.)
DROP INDEX messages_by_chat;
