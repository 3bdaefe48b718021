-- Lookups that ran on every button press or live-page reconnect and read a
-- table's whole history to find a few rows (found by reading each
-- statement's query plan against a database with months of rows).

-- A button press finds the invoice its message shows (invoices are kept).
CREATE INDEX invoices_by_message ON invoices (message_id);

-- A live page resuming reads its chat's pushes only, not every event of
-- the chat since its cursor.
CREATE INDEX chat_events_page_pushes ON chat_events (chat_id, seq) WHERE kind = 'page.push';
