ALTER TABLE audit_events DROP COLUMN blocked;
ALTER TABLE audit_events DROP COLUMN purpose;
ALTER TABLE audit_events DROP COLUMN factor;
