-- Monitoring: a time series of the metrics `collect_metrics` reads (kept for
-- `monitor_retention_days`, pruned on every write) and the state of each alert rule,
-- so a rule notifies once when it starts firing and once when it resolves.

CREATE TABLE IF NOT EXISTS monitor_metrics (
    recorded_at TIMESTAMPTZ NOT NULL,
    name VARCHAR NOT NULL,
    value DOUBLE NOT NULL
);

CREATE TABLE IF NOT EXISTS alert_state (
    rule_name VARCHAR PRIMARY KEY,
    state VARCHAR NOT NULL,
    condition VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    last_value DOUBLE,
    since TIMESTAMPTZ NOT NULL,
    last_evaluated_at TIMESTAMPTZ NOT NULL,
    last_notified_at TIMESTAMPTZ
);
