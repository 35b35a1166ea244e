// Package op adapts Gatehouse's storage to zitadel's OpenID provider
// (imported as zop): it implements zop.Storage over storage.Store, builds
// the provider with Gatehouse's policies (static issuer, S256-only PKCE, no
// credentialed CORS), manages the signing keys and maps users to claims.
//
// The hosted login never talks to this package. It marks an auth request
// done in storage and sends the browser to the callback URL that cmd wires
// in; the adapter then reports the request's subject, amr and auth_time to
// the provider.
package op
