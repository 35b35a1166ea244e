-- client_generation.revocations counts the revocations of unrecorded access
-- tokens, as on SQLite, where a process keeps the revoked ids in memory
-- under the count (storage/internal/sqlstore/revocations.go). PostgreSQL's
-- replicas read a token's record instead; the count keeps both schemas
-- alike.
ALTER TABLE client_generation ADD COLUMN revocations BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION gatehouse_unrecorded_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE client_generation SET revocations = revocations + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER access_tokens_unrecorded_revoked AFTER INSERT ON access_tokens
    FOR EACH ROW WHEN (starts_with(NEW.id, 'cc.')) EXECUTE FUNCTION gatehouse_unrecorded_revoked();
