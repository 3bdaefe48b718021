-- Live pages (the `pages` capability): what an app published to its open
-- pages in a chat. Each push is a chat event of kind `page.push` (numbered
-- in commit order by event_counter, relayed across nodes like every chat
-- event, never shown on the members' event streams); this row, under the
-- same number, holds whose it is and what it says. Rows go after an hour
-- (the retention sweep); a page resuming from further back is told to
-- reload (`reset`).
CREATE TABLE page_pushes (
    seq      BIGINT PRIMARY KEY,
    app_id   TEXT NOT NULL,
    chat_id  TEXT NOT NULL,
    data     TEXT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX page_pushes_by_at ON page_pushes (at);
