DROP TRIGGER access_tokens_unrecorded_revoked;
ALTER TABLE client_generation DROP COLUMN revocations;
