DROP TRIGGER clients_generation ON clients;
DROP FUNCTION gatehouse_clients_generation();
DROP TABLE client_generation;
