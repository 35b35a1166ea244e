-- client_generation counts the changes to clients, as on SQLite, where a
-- process answers client lookups from memory while the count is unchanged
-- (storage/internal/sqlstore/clientcache.go). PostgreSQL's replicas learn
-- of changes from the notifications of migration 0008 instead; the count
-- keeps both schemas alike.
CREATE TABLE client_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO client_generation (id, n) VALUES (1, 0);

CREATE FUNCTION gatehouse_clients_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE client_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_clients_generation();
