-- engines: duckdb
-- shipment_predictions without its primary key on DuckDB. DuckDB updates and checks
-- the key's index at every commit: 0.2 s of each 10k-event incremental run at 10M
-- events, nearly half of it. A run replaces the predictions of the shipments it
-- touched (a delete, then an insert) and the base replaces them all, so each
-- shipment keeps one row without the key; the server engines keep theirs.
CREATE TABLE shipment_predictions_unkeyed (
    shipment_id VARCHAR NOT NULL,
    predicted_at TIMESTAMPTZ NOT NULL,
    from_event_id VARCHAR NOT NULL,
    from_event_timestamp TIMESTAMPTZ NOT NULL,
    point TIMESTAMPTZ NOT NULL,
    p10 TIMESTAMPTZ NOT NULL,
    p90 TIMESTAMPTZ NOT NULL,
    model_version BIGINT NOT NULL,
    segment VARCHAR NOT NULL,
    samples BIGINT NOT NULL
);
INSERT INTO shipment_predictions_unkeyed SELECT * FROM shipment_predictions;
DROP TABLE shipment_predictions;
ALTER TABLE shipment_predictions_unkeyed RENAME TO shipment_predictions;
