-- A code whose email was never sent must not become live without the column.
DELETE FROM one_time_codes WHERE pending;
ALTER TABLE one_time_codes DROP COLUMN pending;
