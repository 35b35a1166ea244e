-- Every change to clients, whoever makes it (a replica, the CLI, an operator
-- with psql), notifies the channel gatehouse_clients with the table's
-- schema. Each replica keeps the clients it has read in memory and forgets
-- them on this notification (storage/postgres/clientcache.go).
CREATE FUNCTION gatehouse_clients_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_clients', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_clients_changed();
