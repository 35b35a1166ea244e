DROP TABLE audit_events;
DROP TABLE one_time_codes;
DROP TABLE totp_secrets;
-- ALTER TABLE … DROP COLUMN needs SQLite 3.35 or later.
ALTER TABLE users DROP COLUMN email_otp;
