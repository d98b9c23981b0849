-- engines: postgres
-- An event id is no longer unique in shipment_events (revisions share it); the
-- lookup by id stays indexed.
DROP INDEX IF EXISTS shipment_events_event_id;
CREATE INDEX IF NOT EXISTS shipment_events_event_id_seq ON shipment_events (event_id, ingest_seq);
CREATE INDEX IF NOT EXISTS superseded_events_seq ON superseded_events (ingest_seq);
CREATE INDEX IF NOT EXISTS superseded_events_by ON superseded_events (superseded_by);
