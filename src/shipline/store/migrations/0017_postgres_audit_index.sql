-- engines: postgres
-- The audit log is read newest first and pruned by age (shipline audit list, retention).
CREATE INDEX IF NOT EXISTS audit_log_occurred_at ON audit_log (occurred_at);
