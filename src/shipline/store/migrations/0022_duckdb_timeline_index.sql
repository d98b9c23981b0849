-- engines: duckdb
-- One shipment's base rows found by an index instead of a scan of the whole table:
-- a timeline read at 10M events took 24 ms scanning 80 of 82 row groups (DuckDB's
-- zone maps keep 8 bytes of a string, and ids share their first 8), 4 ms by the
-- index. A base that recomputes more than 5% of the table rewrites it whole
-- (DuckDBBackend.replace_rows_of), so the index is built afresh instead of updated
-- row by row at its commit.
CREATE INDEX IF NOT EXISTS shipment_timeline_base_by_shipment
    ON shipment_timeline_base (shipment_id);
-- DuckDB refuses to alter a table with an index (rename or drop a column, change
-- NOT NULL; ADD COLUMN works): a later migration that does must drop the index
-- first and create it again after.
