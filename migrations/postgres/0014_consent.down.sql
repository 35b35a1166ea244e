ALTER TABLE auth_requests DROP COLUMN consented;
DROP TABLE consent_grants;
