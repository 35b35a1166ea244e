DROP INDEX access_tokens_subject;
DROP INDEX refresh_tokens_user_id;
DROP TABLE recovery_codes;
DROP TABLE action_tokens;
