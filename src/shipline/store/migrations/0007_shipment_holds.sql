-- Shipments whose data made a timeline run fail: left out of the runs, with the
-- error, so every other shipment goes on (timeline/holds.py). `retry` asks the
-- next incremental run to try one again.
CREATE TABLE IF NOT EXISTS shipment_holds (
    shipment_id VARCHAR PRIMARY KEY,
    held_at TIMESTAMPTZ NOT NULL,
    process_type VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    retry BOOLEAN NOT NULL DEFAULT false
);
