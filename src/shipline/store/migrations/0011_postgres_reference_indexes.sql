-- engines: postgres
CREATE INDEX IF NOT EXISTS shipment_estimates_shipment ON shipment_estimates (shipment_id);
CREATE INDEX IF NOT EXISTS shipment_references_reference ON shipment_references (reference);
CREATE INDEX IF NOT EXISTS shipment_references_shipment ON shipment_references (shipment_id);
