-- Times are Unix milliseconds (UTC), string lists are JSON arrays, hashes are
-- raw bytes. The SQLite schema mirrors this one column for column.

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL,
    disabled       BOOLEAN NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    secret_hash               BYTEA,
    public                    BOOLEAN NOT NULL,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    require_mfa               BOOLEAN NOT NULL,
    signing_algorithm         TEXT NOT NULL,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL
);

CREATE TABLE auth_requests (
    id                    TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL,
    scopes                TEXT NOT NULL,
    state                 TEXT NOT NULL,
    nonce                 TEXT NOT NULL,
    response_type         TEXT NOT NULL,
    response_mode         TEXT NOT NULL,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    prompt                TEXT NOT NULL,
    max_age_ns            BIGINT,
    login_hint            TEXT NOT NULL,
    ui_locales            TEXT NOT NULL,
    acr_values            TEXT NOT NULL,
    hint_subject          TEXT NOT NULL,
    binding_hash          BYTEA,
    user_id               TEXT REFERENCES users (id) ON DELETE CASCADE,
    auth_time             BIGINT,
    amr                   TEXT NOT NULL,
    acr                   TEXT NOT NULL,
    done                  BOOLEAN NOT NULL,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL
);

CREATE INDEX auth_requests_client_id ON auth_requests (client_id);
CREATE INDEX auth_requests_user_id ON auth_requests (user_id);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

-- auth_request_id has no foreign key: a used code outlives its request as a
-- tombstone so that a replay is still recognised.
CREATE TABLE auth_codes (
    hash            BYTEA PRIMARY KEY,
    auth_request_id TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);

CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

CREATE TABLE access_tokens (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    audience   TEXT NOT NULL,
    grant_id   TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    hash       BYTEA NOT NULL UNIQUE,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    audience   TEXT NOT NULL,
    amr        TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    BIGINT NOT NULL,
    amr          TEXT NOT NULL,
    ip           TEXT NOT NULL,
    user_agent   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    idle_until   BIGINT NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_key BYTEA NOT NULL,
    public_key  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    active_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- blocked_until is 0 when the counter is not blocked.
CREATE TABLE attempt_counters (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);

CREATE INDEX attempt_counters_blocked_until ON attempt_counters (blocked_until);
