-- The facts KPI reports are read from (timeline/facts.py), kept by the runs: per
-- shipment beside its last row in shipment_state, and the time each shipment spent
-- at each location in shipment_dwell. Filled here from the view's rows once; from
-- then on every run keeps them for the shipments it touches.
ALTER TABLE shipment_state ADD COLUMN picked_up_at TIMESTAMPTZ;
ALTER TABLE shipment_state ADD COLUMN delivered_at TIMESTAMPTZ;
ALTER TABLE shipment_state ADD COLUMN delivered_sequence BIGINT;
ALTER TABLE shipment_state ADD COLUMN attempted_sequence BIGINT;
ALTER TABLE shipment_state ADD COLUMN exception_count BIGINT;

CREATE TABLE IF NOT EXISTS shipment_dwell (
    shipment_id VARCHAR NOT NULL,
    location_id VARCHAR NOT NULL,
    dwell_us BIGINT NOT NULL
);

-- The view's rows, as shipment_timeline_realtime reads them.
CREATE TEMP TABLE kpi_backfill_rows AS
SELECT shipment_id, event_id, event_timestamp, event_type, status, location_id,
    event_sequence, next_event_timestamp
FROM shipment_timeline_incremental
UNION ALL
SELECT b.shipment_id, b.event_id, b.event_timestamp, b.event_type, b.status, b.location_id,
    b.event_sequence, b.next_event_timestamp
FROM shipment_timeline_base AS b
WHERE NOT EXISTS (
    SELECT 1 FROM shipment_timeline_incremental AS i
    WHERE i.shipment_id = b.shipment_id AND i.event_id = b.event_id
);

UPDATE shipment_state SET
    picked_up_at = f.picked_up_at,
    delivered_at = f.delivered_at,
    delivered_sequence = f.delivered_sequence,
    attempted_sequence = f.attempted_sequence,
    exception_count = f.exception_count
FROM (
    SELECT r.shipment_id,
        min(CASE WHEN r.event_type = 'picked_up' THEN r.event_timestamp END) AS picked_up_at,
        min(CASE WHEN r.event_type = 'delivered' THEN r.event_timestamp END) AS delivered_at,
        min(CASE WHEN r.event_type = 'delivered' THEN r.event_sequence END)
            AS delivered_sequence,
        min(CASE WHEN r.event_type = 'delivery_attempted' THEN r.event_sequence END)
            AS attempted_sequence,
        count(CASE WHEN r.status = 'exception' THEN 1 END) AS exception_count
    FROM kpi_backfill_rows AS r
    GROUP BY r.shipment_id
) AS f
WHERE f.shipment_id = shipment_state.shipment_id;

INSERT INTO shipment_dwell
SELECT r.shipment_id, r.location_id,
    sum(epoch_us(r.next_event_timestamp) - epoch_us(r.event_timestamp))
FROM kpi_backfill_rows AS r
WHERE r.location_id IS NOT NULL AND r.next_event_timestamp IS NOT NULL
GROUP BY r.shipment_id, r.location_id;

DROP TABLE kpi_backfill_rows;
