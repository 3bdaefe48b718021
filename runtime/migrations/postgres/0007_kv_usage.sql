-- Each app's storage usage (keys, bytes of keys and values), kept by
-- triggers in the same transaction as every change, so a quota check is one
-- row read instead of a scan of the app's data.
-- (PostgreSQL dialect of migrations/sqlite/0007: the triggers call plpgsql
-- functions; a key's size is OCTET_LENGTH, its UTF-8 bytes, as SQLite's
-- LENGTH(CAST(key AS BLOB)).)

CREATE TABLE app_kv_usage (
    app_id TEXT PRIMARY KEY,
    keys   BIGINT NOT NULL,
    bytes  BIGINT NOT NULL
);

INSERT INTO app_kv_usage (app_id, keys, bytes)
SELECT app_id, COUNT(*), COALESCE(SUM(CAST(OCTET_LENGTH(key) + OCTET_LENGTH(value) AS BIGINT)), 0)
FROM app_kv GROUP BY app_id;

CREATE FUNCTION app_kv_usage_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO app_kv_usage AS u (app_id, keys, bytes)
    VALUES (NEW.app_id, 1, OCTET_LENGTH(NEW.key) + OCTET_LENGTH(NEW.value))
    ON CONFLICT (app_id) DO UPDATE
    SET keys = u.keys + 1, bytes = u.bytes + OCTET_LENGTH(NEW.key) + OCTET_LENGTH(NEW.value);
    RETURN NULL;
END;
$$;

CREATE TRIGGER app_kv_usage_insert AFTER INSERT ON app_kv
    FOR EACH ROW EXECUTE FUNCTION app_kv_usage_insert();

CREATE FUNCTION app_kv_usage_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app_kv_usage SET bytes = bytes + OCTET_LENGTH(NEW.value) - OCTET_LENGTH(OLD.value) WHERE app_id = NEW.app_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER app_kv_usage_update AFTER UPDATE OF value ON app_kv
    FOR EACH ROW EXECUTE FUNCTION app_kv_usage_update();

CREATE FUNCTION app_kv_usage_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app_kv_usage
    SET keys = keys - 1, bytes = bytes - OCTET_LENGTH(OLD.key) - OCTET_LENGTH(OLD.value)
    WHERE app_id = OLD.app_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER app_kv_usage_delete AFTER DELETE ON app_kv
    FOR EACH ROW EXECUTE FUNCTION app_kv_usage_delete();
