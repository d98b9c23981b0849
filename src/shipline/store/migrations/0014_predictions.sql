-- Predicted delivery (timeline/predict.py). A model is the empirical quantiles of
-- the time left to delivery per segment (lane, carrier, service, stage), learned
-- from delivered shipments; each version is kept whole beside the older ones.
CREATE TABLE IF NOT EXISTS prediction_model (
    model_version BIGINT NOT NULL,
    segment VARCHAR NOT NULL,
    level INTEGER NOT NULL,
    samples BIGINT NOT NULL,
    p10_us BIGINT NOT NULL,
    p50_us BIGINT NOT NULL,
    p90_us BIGINT NOT NULL,
    trained_at TIMESTAMPTZ NOT NULL,
    delivered_before TIMESTAMPTZ
);

-- One row per shipment not yet delivered (nor returned or cancelled): when it
-- should arrive, from its last event, with its 10th and 90th percentiles.
CREATE TABLE IF NOT EXISTS shipment_predictions (
    shipment_id VARCHAR PRIMARY KEY,
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
