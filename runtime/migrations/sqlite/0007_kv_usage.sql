-- Each app's storage usage (keys, bytes of keys and values), kept by
-- triggers in the same transaction as every change, so a quota check is one
-- row read instead of a scan of the app's data.

CREATE TABLE app_kv_usage (
    app_id TEXT PRIMARY KEY,
    keys   BIGINT NOT NULL,
    bytes  BIGINT NOT NULL
);

INSERT INTO app_kv_usage (app_id, keys, bytes)
SELECT app_id, COUNT(*), COALESCE(SUM(LENGTH(CAST(key AS BLOB)) + LENGTH(value)), 0)
FROM app_kv GROUP BY app_id;

CREATE TRIGGER app_kv_usage_insert AFTER INSERT ON app_kv BEGIN
    INSERT INTO app_kv_usage (app_id, keys, bytes)
    VALUES (NEW.app_id, 1, LENGTH(CAST(NEW.key AS BLOB)) + LENGTH(NEW.value))
    ON CONFLICT (app_id) DO UPDATE
    SET keys = keys + 1, bytes = bytes + LENGTH(CAST(NEW.key AS BLOB)) + LENGTH(NEW.value);
END;

CREATE TRIGGER app_kv_usage_update AFTER UPDATE OF value ON app_kv BEGIN
    UPDATE app_kv_usage SET bytes = bytes + LENGTH(NEW.value) - LENGTH(OLD.value) WHERE app_id = NEW.app_id;
END;

CREATE TRIGGER app_kv_usage_delete AFTER DELETE ON app_kv BEGIN
    UPDATE app_kv_usage
    SET keys = keys - 1, bytes = bytes - LENGTH(CAST(OLD.key AS BLOB)) - LENGTH(OLD.value)
    WHERE app_id = OLD.app_id;
END;
