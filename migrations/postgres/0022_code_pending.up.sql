-- pending marks an emailed one-time code whose email is not sent yet: it
-- counts for the resend cooldown, but no check finds it and the older
-- codes stay as they are until its email is out and it is made live (or,
-- the email not sent, it is deleted): storage/internal/sqlstore/codes.go.
ALTER TABLE one_time_codes ADD COLUMN pending BOOLEAN NOT NULL DEFAULT FALSE;
