-- Nobody is put into a chat without their say: someone who shares no chat
-- with the person adding them is invited, and joins only by accepting.
CREATE TABLE chat_invitations (
    chat_id     TEXT NOT NULL REFERENCES chats(id),
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    invited_by  TEXT NOT NULL REFERENCES accounts(id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (chat_id, account_id)
);
CREATE INDEX chat_invitations_by_account ON chat_invitations (account_id, created_at);
