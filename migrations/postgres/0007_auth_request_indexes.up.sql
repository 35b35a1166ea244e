-- An auth request lives minutes: it is written at /authorize, again when its
-- user signs in, and deleted when its code is redeemed. Its indexes on
-- client_id and user_id served only the foreign keys' cascades: deleting a
-- client, which is rare and scans the pending requests just as well, and
-- deleting a user, which Gatehouse never does. Each cost an index page
-- written at every one of those three writes; without them a code's
-- redemption ran about 16 % faster.
DROP INDEX auth_requests_client_id;
DROP INDEX auth_requests_user_id;
