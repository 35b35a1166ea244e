ALTER TABLE sessions DROP COLUMN reauth_at;
