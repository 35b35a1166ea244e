-- OpenID Connect Back-Channel Logout 1.0.
--
-- The sign-ins completed in a browser session: one row per auth request
-- (the grant: its refresh family keeps the id), naming the client it was
-- for. The ID tokens of the grant carry the session's sid, and when the
-- session ends every client with a back-channel logout URI that signed in
-- through it is told. The rows go with their session.
CREATE TABLE session_grants (
    grant_id   TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX session_grants_session_id ON session_grants (session_id);

-- A new sign-in in a browser replaces its session (no fixation); when the
-- user is the same, the new session continues the old one: it takes its
-- grants and keeps its sid, which derives from the first session of the
-- line (sid_source). Sessions without a row are the first of theirs.
CREATE TABLE session_sids (
    session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    sid_source TEXT NOT NULL
);

-- Logout tokens waiting to be sent: one per ended session and client. The
-- token is built when it is sent, from the client, the user and the
-- session's sid (session_id is its sid_source); no secret is kept here.
-- A replica claims a row by setting locked_until (a lease), then deletes
-- it or moves next_attempt_at on.
CREATE TABLE logout_deliveries (
    session_id      TEXT NOT NULL,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX logout_deliveries_next_attempt_at ON logout_deliveries (next_attempt_at);
