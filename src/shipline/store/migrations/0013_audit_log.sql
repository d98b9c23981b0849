-- Who read or changed what, and with what outcome: one row per API or dashboard
-- request to a data route, and per CLI command that changes data. Kept for
-- retention_days like the shipments (timeline/retention.py).
CREATE TABLE IF NOT EXISTS audit_log (
    occurred_at TIMESTAMPTZ NOT NULL,
    actor VARCHAR NOT NULL,
    client VARCHAR,
    action VARCHAR NOT NULL,
    subject VARCHAR,
    detail VARCHAR,
    status INTEGER NOT NULL
);
