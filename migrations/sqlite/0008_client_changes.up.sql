-- Nothing: PostgreSQL's version adds a trigger that notifies the replicas
-- of changes to clients. A SQLite database has one server, which reads its
-- clients from the file each time.
SELECT 1;
