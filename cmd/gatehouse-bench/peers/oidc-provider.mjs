// oidc-provider.mjs serves panva's oidc-provider for `gatehouse-bench peers`,
// configured as close to Gatehouse's bench set-up as its options allow:
//
//   - a client_credentials client ("cc", opaque access tokens);
//   - a confidential code-flow client ("web", client_secret_basic, PKCE);
//   - the development interactions (GET and POST /interaction/:uid), which
//     accept any login and check no password, and a findAccount that knows
//     every account id, so that a program can sign in;
//   - consent skipped for the bench's own client (loadExistingGrant grants
//     the scopes it asks for), as Gatehouse and the zitadel example do for
//     theirs;
//   - one RSA 2048 signing key made at start (RS256), like the zitadel
//     example's;
//   - the token, authorization and JWKS endpoints at Gatehouse's paths
//     (/oauth/token, /authorize, /keys), discovery where the standard puts it.
//
// Everything is kept in the provider's default in-memory adapter, an LRU of
// a bounded number of entries: nothing survives a restart, and under load
// old grants, codes and tokens are dropped.
//
// The environment gives PORT, REDIRECT_URI, CC_SECRET and WEB_SECRET. It
// is copied next to the installed node_modules and run with node.

import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
};

const port = Number(env('PORT'));
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'bench',
};

const benchScopes = 'openid email profile';

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'cc',
      client_secret: env('CC_SECRET'),
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'web',
      client_secret: env('WEB_SECRET'),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [env('REDIRECT_URI')],
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  routes: { authorization: '/authorize', token: '/oauth/token', jwks: '/keys' },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: true },
  },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub, email: `${sub}@bench.example`, email_verified: true, name: 'Bench User',
        };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    if (grantId) {
      return oidc.provider.Grant.find(grantId);
    }
    if (oidc.client.clientId !== 'web') {
      return undefined;
    }
    const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
    grant.addOIDCScope(benchScopes);
    await grant.save();
    return grant;
  },
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));

provider.listen(port, '127.0.0.1', () => {
  console.error(`oidc-provider listening on ${issuer}`);
});
