-- The structured fields of an audit event, which the metrics read rather
-- than parse the detail: the factor of a sign-in step or code check, the
-- purpose of a code sent, and whether a failure was refused by a block.
-- The detail keeps its text.
ALTER TABLE audit_events ADD COLUMN factor TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
