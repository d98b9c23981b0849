-- engines: postgres
-- A run replaces the dwell rows of the shipments it touched: found by shipment.
CREATE INDEX IF NOT EXISTS shipment_dwell_shipment ON shipment_dwell (shipment_id);
