-- API keys can expire (`shipline keys create --expires-in 30d`) and be rotated: a
-- rotated key names its successor in `rotated_to` and expires after a grace period.
-- Keys are derived from a server secret outside the database, so `sigv4_wrapped`
-- is NULL for new keys; older keys keep a copy wrapped with that secret.

ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN rotated_to VARCHAR;
