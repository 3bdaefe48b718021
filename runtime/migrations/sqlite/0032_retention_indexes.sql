-- The hourly retention sweep deletes app log lines and audit entries older
-- than their retention; without an index on `at` each delete read the
-- whole table (about 40 ms at 400,000 rows, holding up every writer).
CREATE INDEX app_logs_by_at ON app_logs (at);
CREATE INDEX audit_log_by_at ON audit_log (at);
