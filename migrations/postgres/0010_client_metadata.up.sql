-- Client metadata of RFC 7591 §2 and the specifications Gatehouse follows,
-- one column each. Existing clients keep what they did before: an empty
-- token_endpoint_auth_method is a client registered before it could be
-- chosen (see op/clientauth.go for how such a client authenticates).
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT '';
-- The client's public keys for private_key_jwt: an inline JWK Set (JSON)
-- or the URL of one, never both.
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
-- Pushed authorization requests (RFC 9126) required of this client.
ALTER TABLE clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT false;
-- OpenID Back-Channel Logout 1.0: where logout tokens are sent.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
-- A third-party client: users are asked to consent to its scopes.
ALTER TABLE clients ADD COLUMN consent BOOLEAN NOT NULL DEFAULT false;
-- RFC 9449 §5.2: the client's access tokens must be DPoP-bound.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT false;

-- Single-use JWT identifiers (client assertions, DPoP proofs): a row per
-- jti seen, kept until the JWT it came in would have expired. The key
-- names its purpose and hashes the issuer and jti.
CREATE TABLE used_jtis (
    key        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);
