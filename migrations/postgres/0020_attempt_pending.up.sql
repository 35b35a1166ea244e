-- pending counts the attempts reserved on a counter whose secrets are still
-- being checked, apart from failures, the confirmed ones: attempts in
-- flight count against the limit for granting checks, but only confirmed
-- failures block.
ALTER TABLE attempt_counters ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
