-- The administrator role: a user with it may use the admin console at
-- /admin (gatehouse users grant-admin, PUT /api/users/{user}/admin).
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
