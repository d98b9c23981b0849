-- Estimates and references (DESIGN 2a). Estimates are not events: the latest per
-- (shipment, kind, source) is served beside the timeline, never as a row of it.
CREATE TABLE IF NOT EXISTS shipment_estimates (
    shipment_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    estimated_at TIMESTAMPTZ NOT NULL,
    source VARCHAR NOT NULL,
    classifier VARCHAR,
    received_at TIMESTAMPTZ NOT NULL
);

-- Every other name a shipment goes by (booking, bill of lading, container,
-- tracking number, SSCC): any of them finds the shipment.
CREATE TABLE IF NOT EXISTS shipment_references (
    reference_type VARCHAR NOT NULL,
    reference VARCHAR NOT NULL,
    shipment_id VARCHAR NOT NULL
);

-- The IANA zone of a location, to resolve its local times that carry no offset.
ALTER TABLE locations ADD COLUMN timezone VARCHAR;
