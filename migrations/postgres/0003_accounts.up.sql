-- Account self-service: emailed single-use link tokens and recovery codes.
-- Same conventions as 0001: times are Unix milliseconds (UTC), hashes are
-- raw bytes (SHA-256); the tokens and codes themselves are never stored.

-- purpose is "confirm-email", "reset-password" or "change-email"; data is
-- purpose-specific (the new address of an email change), '' when unused.
CREATE TABLE action_tokens (
    hash       BYTEA PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX action_tokens_user_id ON action_tokens (user_id);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, hash)
);

-- Revoking every token of a user (sign-out everywhere, password reset).
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX access_tokens_subject ON access_tokens (subject);
