-- engines: postgres
-- Indexes for the server backend, where point queries and small ingest batches
-- must not scan. (DuckDB prunes by zone maps instead; its ART indexes would slow
-- bulk loads.) Redshift has no indexes (it would use sort keys).
CREATE UNIQUE INDEX IF NOT EXISTS shipment_events_event_id ON shipment_events (event_id);
CREATE INDEX IF NOT EXISTS shipment_events_ingest_seq ON shipment_events (ingest_seq);
CREATE INDEX IF NOT EXISTS shipment_events_shipment ON shipment_events (shipment_id);
CREATE INDEX IF NOT EXISTS shipment_timeline_base_key
    ON shipment_timeline_base (shipment_id, event_id);
CREATE INDEX IF NOT EXISTS shipment_timeline_incremental_key
    ON shipment_timeline_incremental (shipment_id, event_id);
CREATE UNIQUE INDEX IF NOT EXISTS shipment_state_shipment ON shipment_state (shipment_id);
