-- Each owner's bytes in files (unsent ones included), kept by triggers in
-- the same transaction as every change, so a quota check (each upload, each
-- invocation that makes a file) reads one row instead of summing the
-- owner's files (45 ms at 200,000 files, under the owner's quota lock).

CREATE TABLE file_usage (
    owner_kind TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    bytes      BIGINT NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);

INSERT INTO file_usage (owner_kind, owner_id, bytes)
SELECT owner_kind, owner_id, SUM(size) FROM files GROUP BY owner_kind, owner_id;

CREATE TRIGGER file_usage_insert AFTER INSERT ON files BEGIN
    INSERT INTO file_usage (owner_kind, owner_id, bytes)
    VALUES (NEW.owner_kind, NEW.owner_id, NEW.size)
    ON CONFLICT (owner_kind, owner_id) DO UPDATE SET bytes = bytes + NEW.size;
END;

CREATE TRIGGER file_usage_update AFTER UPDATE OF owner_kind, owner_id, size ON files BEGIN
    UPDATE file_usage SET bytes = bytes - OLD.size
    WHERE owner_kind = OLD.owner_kind AND owner_id = OLD.owner_id;
    INSERT INTO file_usage (owner_kind, owner_id, bytes)
    VALUES (NEW.owner_kind, NEW.owner_id, NEW.size)
    ON CONFLICT (owner_kind, owner_id) DO UPDATE SET bytes = bytes + NEW.size;
END;

CREATE TRIGGER file_usage_delete AFTER DELETE ON files BEGIN
    UPDATE file_usage SET bytes = bytes - OLD.size
    WHERE owner_kind = OLD.owner_kind AND owner_id = OLD.owner_id;
END;
