-- RFC 9449 (DPoP): the JWK SHA-256 thumbprint (RFC 7638) of the key an
-- access token is bound to, and the key a public client's refresh token is
-- bound to; '' for a token not bound to a key.
ALTER TABLE access_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
-- The dpop_jkt of an authorization request (RFC 9449 §10): its code is
-- exchanged only with a proof of that key.
ALTER TABLE auth_requests ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
