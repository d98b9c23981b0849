-- Which definition of each of shipline's views is in the database, so that opening
-- the store re-creates a view only when shipline's SQL for it changed (on
-- PostgreSQL and Redshift a re-created view is dropped first, with its dependants).
CREATE TABLE IF NOT EXISTS view_definitions (
    view_name VARCHAR PRIMARY KEY,
    digest VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
