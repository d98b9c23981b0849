-- Revisions and retractions (DESIGN section 2a). An event id may now be stored
-- more than once: each newer revision, and one retraction, with its own ingest_seq.
-- `revision` orders the revisions of one id (an explicit number, or the source's
-- update time in microseconds); NULL sorts first. A retraction is final.
ALTER TABLE shipment_events ADD COLUMN revision BIGINT;
ALTER TABLE shipment_events ADD COLUMN retracted BOOLEAN DEFAULT false;

-- Every stored record that is no longer its event's current revision: replaced by
-- a newer revision, retracted, or a retraction itself. `superseded_by` is the
-- ingest_seq from which it stopped counting, so a run that reads up to a given
-- ingest_seq sees exactly the revisions current then. Small: one row per revision.
CREATE TABLE IF NOT EXISTS superseded_events (
    ingest_seq BIGINT NOT NULL,
    event_id VARCHAR NOT NULL,
    shipment_id VARCHAR NOT NULL,
    superseded_by BIGINT NOT NULL
);
