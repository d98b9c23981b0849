-- shipline schema, version 1. Written once in the DuckDB dialect and rendered per
-- engine. Never edit a released migration: add the next numbered file instead.

-- Every accepted event, once. Append-only; ingest_seq is strictly increasing in
-- commit order, and checkpoints count it (not event time).
CREATE TABLE IF NOT EXISTS shipment_events (
    ingest_seq BIGINT NOT NULL,
    event_id VARCHAR NOT NULL,
    shipment_id VARCHAR NOT NULL,
    event_timestamp TIMESTAMPTZ NOT NULL,
    event_type VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    location_id VARCHAR,
    carrier VARCHAR,
    event_data VARCHAR,
    content_hash VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS processing_checkpoints (
    checkpoint_id VARCHAR PRIMARY KEY,
    last_processed_timestamp TIMESTAMPTZ,
    last_update_time TIMESTAMPTZ,
    process_type VARCHAR,
    status VARCHAR,
    last_ingest_seq BIGINT NOT NULL DEFAULT 0,
    base_date DATE,
    view_rows BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS shipment_timeline_base (
    shipment_id VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    event_timestamp TIMESTAMPTZ NOT NULL,
    event_type VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    location_id VARCHAR,
    carrier VARCHAR,
    event_sequence BIGINT NOT NULL,
    prev_event_timestamp TIMESTAMPTZ,
    time_since_prev_event INTERVAL,
    next_event_timestamp TIMESTAMPTZ,
    status_duration INTERVAL,
    first_event_timestamp TIMESTAMPTZ NOT NULL,
    cumulative_transit_hours DECIMAL(18, 6) NOT NULL,
    prev_location_id VARCHAR,
    location_changed BOOLEAN NOT NULL,
    location_transition_count BIGINT NOT NULL,
    prev_status VARCHAR,
    status_changed BOOLEAN NOT NULL,
    status_transition_count BIGINT NOT NULL,
    processed_timestamp TIMESTAMPTZ NOT NULL,
    process_type VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS shipment_timeline_incremental (
    shipment_id VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    event_timestamp TIMESTAMPTZ NOT NULL,
    event_type VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    location_id VARCHAR,
    carrier VARCHAR,
    event_sequence BIGINT NOT NULL,
    prev_event_timestamp TIMESTAMPTZ,
    time_since_prev_event INTERVAL,
    next_event_timestamp TIMESTAMPTZ,
    status_duration INTERVAL,
    first_event_timestamp TIMESTAMPTZ NOT NULL,
    cumulative_transit_hours DECIMAL(18, 6) NOT NULL,
    prev_location_id VARCHAR,
    location_changed BOOLEAN NOT NULL,
    location_transition_count BIGINT NOT NULL,
    prev_status VARCHAR,
    status_changed BOOLEAN NOT NULL,
    status_transition_count BIGINT NOT NULL,
    processed_timestamp TIMESTAMPTZ NOT NULL,
    process_type VARCHAR NOT NULL,
    incremental_batch_id VARCHAR NOT NULL,
    incremental_processed_at TIMESTAMPTZ NOT NULL
);

-- One row per shipment ever processed: its latest timeline row. The in-order
-- incremental path continues a shipment from here instead of re-reading its
-- history, so an incremental run costs O(new events), not O(timeline).
CREATE TABLE IF NOT EXISTS shipment_state (
    shipment_id VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    event_timestamp TIMESTAMPTZ NOT NULL,
    event_type VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    location_id VARCHAR,
    carrier VARCHAR,
    event_sequence BIGINT NOT NULL,
    prev_event_timestamp TIMESTAMPTZ,
    time_since_prev_event INTERVAL,
    first_event_timestamp TIMESTAMPTZ NOT NULL,
    cumulative_transit_hours DECIMAL(18, 6) NOT NULL,
    prev_location_id VARCHAR,
    location_changed BOOLEAN NOT NULL,
    location_transition_count BIGINT NOT NULL,
    prev_status VARCHAR,
    status_changed BOOLEAN NOT NULL,
    status_transition_count BIGINT NOT NULL,
    in_view BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS locations (
    location_id VARCHAR PRIMARY KEY,
    location_name VARCHAR,
    region VARCHAR,
    country VARCHAR,
    facility_type VARCHAR,
    latitude DOUBLE,
    longitude DOUBLE
);

CREATE TABLE IF NOT EXISTS packages (
    shipment_id VARCHAR PRIMARY KEY,
    service_level VARCHAR,
    promised_delivery_at TIMESTAMPTZ,
    weight_kg DOUBLE,
    origin_location_id VARCHAR,
    destination_location_id VARCHAR
);

CREATE TABLE IF NOT EXISTS dead_letters (
    dead_letter_id BIGINT PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL,
    source VARCHAR NOT NULL,
    payload VARCHAR,
    reason VARCHAR NOT NULL,
    errors VARCHAR,
    state VARCHAR NOT NULL DEFAULT 'open',
    redriven_at TIMESTAMPTZ
);

-- One row per base or incremental run: what the dashboard's "recent batches" and
-- the work-saved metric read.
CREATE TABLE IF NOT EXISTS processing_runs (
    run_id VARCHAR PRIMARY KEY,
    process_type VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    duration_ms DOUBLE NOT NULL,
    from_ingest_seq BIGINT NOT NULL,
    to_ingest_seq BIGINT NOT NULL,
    events BIGINT NOT NULL,
    shipments_affected BIGINT NOT NULL,
    late_shipments BIGINT NOT NULL,
    rows_written BIGINT NOT NULL,
    full_recompute_rows BIGINT NOT NULL
);
