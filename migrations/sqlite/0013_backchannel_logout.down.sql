DROP TABLE logout_deliveries;
DROP TABLE session_sids;
DROP TABLE session_grants;
