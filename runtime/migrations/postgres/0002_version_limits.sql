-- Per-version limit overrides chosen by the operator at approval (JSON).
ALTER TABLE app_versions ADD COLUMN limits TEXT;
