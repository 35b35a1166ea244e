-- Consent (issue 16): the scopes a user has allowed a third-party client
-- (clients.consent), remembered so that the next sign-in does not ask
-- again. Revoking the grant deletes the row.
CREATE TABLE consent_grants (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consent_grants_client_id ON consent_grants (client_id);

-- The user allowed this auth request's scopes on the consent page: the
-- callback may then issue its code even with prompt=consent.
ALTER TABLE auth_requests ADD COLUMN consented BOOLEAN NOT NULL DEFAULT false;
