-- The secrets of client_secret_jwt clients, sealed (storage/seal): such a
-- client signs its assertions with HMAC under its secret, so Gatehouse
-- needs the secret itself, not only its hash. Other clients have no row.
CREATE TABLE client_jwt_secrets (
    client_id  TEXT PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    sealed     BLOB NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
