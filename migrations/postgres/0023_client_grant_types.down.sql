ALTER TABLE clients DROP COLUMN grant_types;
