-- A disabled client is refused at every protocol endpoint, as if it did
-- not exist, until it is enabled again (gatehouse clients disable/enable,
-- the admin console); disabling it revokes its tokens.
ALTER TABLE clients ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
