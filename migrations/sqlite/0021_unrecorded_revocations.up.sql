-- client_generation.revocations counts the revocations of unrecorded access
-- tokens (client_credentials JWTs, whose ids start with "cc."): such a
-- token gets a row only when it is revoked. A process keeps the revoked
-- ids in memory under the count, which it reads with the clients' count in
-- the same statement: introspecting an unrecorded token then reads nothing
-- more (storage/internal/sqlstore/revocations.go).
ALTER TABLE client_generation ADD COLUMN revocations INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER access_tokens_unrecorded_revoked AFTER INSERT ON access_tokens
WHEN substr(NEW.id, 1, 3) = 'cc.'
BEGIN
    UPDATE client_generation SET revocations = revocations + 1 WHERE id = 1;
END;
