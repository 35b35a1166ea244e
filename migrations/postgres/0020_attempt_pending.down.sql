ALTER TABLE attempt_counters DROP COLUMN pending;
