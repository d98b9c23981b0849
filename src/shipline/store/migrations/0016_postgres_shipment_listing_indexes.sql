-- engines: postgres
-- The shipments listing pages through shipment_state newest activity first, by
-- keyset (last event time, shipment id); with a status filter, per status. The
-- columns are descending as the listing orders them (DESC NULLS LAST, as DuckDB
-- orders and PostgreSQL is told to), so the index gives the order without a sort.
CREATE INDEX IF NOT EXISTS shipment_state_recent
    ON shipment_state (event_timestamp DESC, shipment_id DESC);
CREATE INDEX IF NOT EXISTS shipment_state_status_recent
    ON shipment_state (status, event_timestamp DESC, shipment_id DESC);
