-- Security keys and passkeys (WebAuthn). Same conventions as 0001: times
-- are Unix milliseconds (UTC), ids and keys are raw bytes, string lists are
-- JSON text.

-- handle is the user's WebAuthn user handle: 64 random bytes, stable, never
-- the email. A passkey gives it back at a passwordless sign-in.
CREATE TABLE webauthn_users (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle     BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- id is the credential id the authenticator chose (unique for the relying
-- party); public_key is COSE. sign_count never goes back (see
-- UpdateWebAuthnCredentialUse).
CREATE TABLE webauthn_credentials (
    id               BYTEA PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    public_key       BYTEA NOT NULL,
    sign_count       BIGINT NOT NULL,
    backup_eligible  BOOLEAN NOT NULL,
    backup_state     BOOLEAN NOT NULL,
    transports       TEXT NOT NULL,
    aaguid           BYTEA,
    attestation_type TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    last_used_at     BIGINT,
    clone_warning    BOOLEAN NOT NULL
);

CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id, created_at);

-- A registration or sign-in ceremony in progress: the library's session
-- data (challenge and all), single use, taken by whichever replica the
-- finishing request reaches.
CREATE TABLE webauthn_sessions (
    id         TEXT PRIMARY KEY,
    data       BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX webauthn_sessions_expires_at ON webauthn_sessions (expires_at);
