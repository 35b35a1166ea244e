-- The form of a client's access tokens: opaque (a random handle that only
-- introspection and userinfo understand) or jwt (an RFC 9068 JWT signed with
-- the client's signing algorithm, which resource servers verify with the
-- JWKS). Either way the token is recorded in access_tokens, so revocation
-- works alike.
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'opaque'
	CHECK (access_token_format IN ('opaque', 'jwt'));
