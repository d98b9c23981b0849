-- The loader's ledger: one row per attempt to load a landing-zone file. A file whose
-- key and checksum already have a 'loaded' row is skipped; a changed file loads again.
-- load_id is numbered under a lock (no sequence: Redshift has none).

CREATE TABLE IF NOT EXISTS load_ledger (
    load_id BIGINT PRIMARY KEY,
    file_key VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    checksum VARCHAR NOT NULL,
    table_name VARCHAR,
    rows BIGINT NOT NULL DEFAULT 0,
    inserted BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    duration_ms DOUBLE NOT NULL DEFAULT 0,
    status VARCHAR NOT NULL,
    error VARCHAR,
    quarantined_to VARCHAR,
    loaded_at TIMESTAMPTZ NOT NULL
);
