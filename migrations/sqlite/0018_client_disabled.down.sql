ALTER TABLE clients DROP COLUMN disabled;
