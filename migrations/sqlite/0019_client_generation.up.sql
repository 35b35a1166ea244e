-- client_generation counts the changes to clients, whoever makes them (this
-- process, the CLI, another process, SQL by hand): each statement that
-- inserts, updates or deletes a client adds one. A process keeps the
-- clients it has read in memory and answers from there while the count is
-- the one it read them under: one integer read instead of a client's row
-- (storage/internal/sqlstore/clientcache.go).
CREATE TABLE client_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO client_generation (id, n) VALUES (1, 0);

CREATE TRIGGER clients_generation_insert AFTER INSERT ON clients
BEGIN
    UPDATE client_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER clients_generation_update AFTER UPDATE ON clients
BEGIN
    UPDATE client_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER clients_generation_delete AFTER DELETE ON clients
BEGIN
    UPDATE client_generation SET n = n + 1 WHERE id = 1;
END;
