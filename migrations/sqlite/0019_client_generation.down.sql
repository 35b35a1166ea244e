DROP TRIGGER clients_generation_delete;
DROP TRIGGER clients_generation_update;
DROP TRIGGER clients_generation_insert;
DROP TABLE client_generation;
