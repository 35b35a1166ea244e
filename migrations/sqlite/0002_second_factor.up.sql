-- Second factors (authenticator-app secrets and emailed one-time codes) and
-- the audit log. Same conventions as 0001: times are Unix milliseconds
-- (UTC), hashes and sealed secrets are raw bytes.

ALTER TABLE users ADD COLUMN email_otp INTEGER NOT NULL DEFAULT 0;

-- last_step is the last RFC 6238 time step accepted, -1 before any.
CREATE TABLE totp_secrets (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     BLOB NOT NULL,
    confirmed  INTEGER NOT NULL,
    last_step  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE one_time_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    binding    TEXT NOT NULL,
    hash       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX one_time_codes_user_purpose_binding ON one_time_codes (user_id, purpose, binding, created_at);

-- user_id has no foreign key: events outlive the users they mention.
CREATE TABLE audit_events (
    id        TEXT PRIMARY KEY,
    time      INTEGER NOT NULL,
    type      TEXT NOT NULL,
    user_id   TEXT,
    client_id TEXT NOT NULL,
    ip        TEXT NOT NULL,
    detail    TEXT NOT NULL
) STRICT;

CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_user_id ON audit_events (user_id);
CREATE INDEX audit_events_ip ON audit_events (ip);
