DROP TABLE audit_events;
DROP TABLE one_time_codes;
DROP TABLE totp_secrets;
ALTER TABLE users DROP COLUMN email_otp;
