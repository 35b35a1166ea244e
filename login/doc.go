// Package login serves Gatehouse's hosted sign-in pages.
//
// The OpenID provider sends the browser to /login?authRequestID=ID. The
// flow is a small state machine persisted on the auth request:
//
//	GET  /login   bind the request to this browser (flow cookie), reuse a
//	              valid SSO session unless prompt/max_age/id_token_hint
//	              forbid it, otherwise show the password form
//	POST /login   check CSRF, the IP and account blocks, the password;
//	              on success start a new SSO session, mark the request
//	              done and redirect (303) to the provider's callback
//	GET  /login/consent  a third-party client's request, done, that the
//	              callback (CallbackGuard) holds back until the user
//	              allows its scopes; POST allows (remembered) or denies
//
// Steps never trust the browser for progress: everything that matters is
// read back from storage. The provider is reached only through the injected
// Callback and Fail functions, so this package does not import it.
//
// Every failure of the password step shows one message, whether the
// account is unknown, disabled or the password wrong; unknown accounts
// still pay for an argon2id verification.
package login
