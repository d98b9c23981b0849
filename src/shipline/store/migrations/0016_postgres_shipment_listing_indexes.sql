-- engines: postgres
-- The shipments listing pages through shipment_state newest activity first, by
-- keyset (last event time, shipment id); with a status filter, per status.
CREATE INDEX IF NOT EXISTS shipment_state_recent ON shipment_state (event_timestamp, shipment_id);
CREATE INDEX IF NOT EXISTS shipment_state_status_recent
    ON shipment_state (status, event_timestamp, shipment_id);
