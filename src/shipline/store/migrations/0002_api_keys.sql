-- API keys for `shipline serve`. The key itself is never stored: `key_hash` is its
-- sha256 (hex), checked on every bearer request. `sigv4_wrapped` is the key XORed
-- with a pad derived from a secret kept outside the database (the keyring file), so
-- the server can recompute AWS SigV4 signatures while a copy of the database alone
-- reveals no key. `key_id` is public: it names the key (and is the SigV4 access key id).

CREATE TABLE IF NOT EXISTS api_keys (
    key_id VARCHAR PRIMARY KEY,
    key_hash VARCHAR NOT NULL UNIQUE,
    scope VARCHAR NOT NULL,
    sigv4_wrapped VARCHAR,
    description VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
