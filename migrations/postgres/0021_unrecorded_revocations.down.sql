DROP TRIGGER access_tokens_unrecorded_revoked ON access_tokens;
DROP FUNCTION gatehouse_unrecorded_revoked();
ALTER TABLE client_generation DROP COLUMN revocations;
