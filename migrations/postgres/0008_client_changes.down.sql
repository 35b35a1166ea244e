DROP TRIGGER clients_changed ON clients;
DROP FUNCTION gatehouse_clients_changed();
