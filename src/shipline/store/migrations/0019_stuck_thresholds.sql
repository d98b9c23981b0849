-- The usual gap after an event (timeline/stuck.py), learned by each base run from
-- the view: its 95th percentile per lane and event type ('lane'), per event type on
-- every lane ('stage') and over every gap ('global'). Reading stuck shipments then
-- joins these few rows instead of re-reading every gap of the history.
CREATE TABLE IF NOT EXISTS stuck_thresholds (
    kind VARCHAR NOT NULL,
    lane VARCHAR,
    event_type VARCHAR,
    samples BIGINT NOT NULL,
    p95_us BIGINT,
    learned_at TIMESTAMPTZ NOT NULL
);
