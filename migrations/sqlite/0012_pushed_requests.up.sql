-- Pushed authorization requests (RFC 9126): the parameters a client pushed,
-- under the SHA-256 of the random part of the request_uri it was given,
-- until /authorize uses them (once) or they expire (a minute). A used row
-- stays until its expiry, so that a replayed request_uri is recognised.
CREATE TABLE pushed_requests (
    hash       BLOB PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);
