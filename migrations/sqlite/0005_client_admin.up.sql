-- A client with admin set may obtain the gatehouse:admin scope with the
-- client_credentials grant, and so call the admin API.
ALTER TABLE clients ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
