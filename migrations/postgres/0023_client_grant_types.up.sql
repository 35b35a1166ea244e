-- The OAuth grants each client may use (RFC 7591 §2 grant_types), a JSON
-- list like redirect_uris: authorization_code, refresh_token,
-- client_credentials. A client registered from now on gets the code flow
-- and refresh tokens unless told otherwise. Existing clients keep what
-- they could do before: every client the code flow and refresh tokens, a
-- confidential one client_credentials as well.
ALTER TABLE clients ADD COLUMN grant_types TEXT NOT NULL DEFAULT '["authorization_code","refresh_token"]';
UPDATE clients SET grant_types = '["authorization_code","refresh_token","client_credentials"]' WHERE NOT public;
