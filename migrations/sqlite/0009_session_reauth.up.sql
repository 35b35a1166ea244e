-- When the user last confirmed it was them again (password, and second
-- factor if on) in this session, before a sensitive account change; Unix
-- milliseconds, NULL when never.
ALTER TABLE sessions ADD COLUMN reauth_at INTEGER;
