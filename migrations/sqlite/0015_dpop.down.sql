ALTER TABLE auth_requests DROP COLUMN dpop_jkt;
ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt;
ALTER TABLE access_tokens DROP COLUMN dpop_jkt;
