-- Security keys and passkeys (WebAuthn). Same conventions as 0001: times
-- are Unix milliseconds (UTC), ids and keys are raw bytes, string lists are
-- JSON text.

-- handle is the user's WebAuthn user handle: 64 random bytes, stable, never
-- the email. A passkey gives it back at a passwordless sign-in.
CREATE TABLE webauthn_users (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle     BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

-- id is the credential id the authenticator chose (unique for the relying
-- party); public_key is COSE. sign_count never goes back (see
-- UpdateWebAuthnCredentialUse).
CREATE TABLE webauthn_credentials (
    id               BLOB PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    public_key       BLOB NOT NULL,
    sign_count       INTEGER NOT NULL,
    backup_eligible  INTEGER NOT NULL,
    backup_state     INTEGER NOT NULL,
    transports       TEXT NOT NULL,
    aaguid           BLOB,
    attestation_type TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER,
    clone_warning    INTEGER NOT NULL
) STRICT;

CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id, created_at);

-- A registration or sign-in ceremony in progress: the library's session
-- data (challenge and all), single use, taken by whichever replica the
-- finishing request reaches.
CREATE TABLE webauthn_sessions (
    id         TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX webauthn_sessions_expires_at ON webauthn_sessions (expires_at);
