// Package login serves Gatehouse's hosted sign-in pages.
//
// The OpenID provider sends the browser to /login?authRequestID=ID. The
// sign-in is a state machine persisted on the auth request: which step
// comes next is decided in one place, nextStep in nextstep.go, from what
// the request and its client demand (require-MFA, acr_values, prompt),
// what the user has enrolled (authenticator app, email codes, security
// keys and passkeys; recovery codes stand in for them) and what just
// happened. Every handler below asks it and acts on the answer; the rule
// that decides the second factor is there and nowhere else.
//
// Gatehouse's own account area signs in the same way: a GET of / or of an
// account page without a session starts a sign-in of the built-in client
// AccountClientID (home.go), which goes through these steps like any
// application's.
//
// # Steps
//
//	password  GET/POST /login            email and password, or a passkey (POST /login/passkey/*)
//	code      GET/POST /login/otp        a code of the authenticator app or an emailed code
//	          POST /login/otp/resend     a new emailed code
//	recovery  GET/POST /login/otp?method=recovery   one of the user's recovery codes
//	enroll    GET/POST /login/enroll     set up a first factor (app or email) within the sign-in
//	          POST /login/enroll/resend  a new emailed enrolment code
//	key       GET /login/webauthn, POST /login/webauthn/*   a security key or passkey as second factor
//	done      the auth request is done (a session started); the browser goes to the callback
//	consent   GET/POST /login/consent    a third-party client's scopes, allowed or denied
//	client    the provider answers the client (the authorization response)
//	error     the client gets an OAuth error (login_required, consent_required)
//	need-key  403: the request accepts only a key (acr loa:3) and the user has none
//	need-app  403: the request refuses emailed codes (acr loa:2) and they are all the user has
//	expired   400: the sign-in is over (a POST to a step of a request that is done)
//	choose    GET /login, POST /login/continue   the sign-in page offering to continue as the
//	          session's user (prompt=select_account), above the password form
//
// # Transitions
//
// Each row is a case of nextStep; nextstep_test.go has one test case a row.
// "Pending user": a user passed the password step of this request (and is
// still enabled). "Accepted email": email codes are on and the request
// accepts them. "Required": the client was created with --require-mfa or
// acr_values ask for a second factor.
//
//	from      on what                                                   to
//	--------  --------------------------------------------------------  --------
//	(open)    GET /login, a live SSO session of an enabled user that     done
//	          meets acr, prompt, max_age and id_token_hint, and used a
//	          second factor or none is required
//	(open)    GET /login, a password-only session, second factor         password
//	          required
//	(open)    GET /login, no session that answers, prompt=none           error
//	(open)    GET /login, no session that answers                        password
//	(open)    GET /login, a session that answers, prompt=select_account  choose
//	choose    "Continue with this account", the session still answers    done
//	choose    "Continue with this account", it no longer answers         password
//	password  right password, no factor, none required                   done
//	password  right password, key required (loa:3), no key              need-key
//	password  right password, email refused (loa:2), email only factor  need-app
//	password  right password, key required, has a key                   key
//	password  right password, keys are the only factor                  key
//	password  right password, no factor, one required                   enroll
//	password  right password, app or email                              code
//	password  passkey passed                                             done
//	password  passkey failed (attempts left)                             password
//	password  passkey failed, now blocked                                password
//	code      GET, no pending user                                       password
//	code      GET, key required                                          need-key
//	code      GET, no app nor accepted email, no key                     password
//	code      GET, no app nor accepted email, keys, not recovery         key
//	code      GET, method=recovery                                       recovery
//	code      GET, app or accepted email                                 code (app; email if asked or the only one)
//	code      POST, key required (even with no pending user)            need-key
//	code      POST, no pending user                                      password
//	code      POST, the factor asked for is not enrolled or accepted     password
//	recovery  POST, no app, no accepted email, no key                    password
//	code      POST, right code                                           done
//	code      POST, wrong code (attempts left)                           code
//	code      POST, wrong code, now blocked (the pending sign-in ends)   password
//	code      resend, key required                                       need-key
//	code      resend, no pending user, or no accepted email              password
//	code      resend                                                     code (email)
//	enroll    GET, no pending user                                       password
//	enroll    key required                                               need-key
//	enroll    POST or resend, no pending user                            password
//	enroll    the user has a factor already                              code
//	enroll    GET/POST                                                   enroll (app; email if asked and accepted)
//	enroll    resend                                                     enroll (email)
//	enroll    POST, right code (recovery codes are shown first)          done
//	enroll    POST, wrong code (attempts left)                           enroll
//	enroll    POST, wrong code, now blocked (the pending sign-in ends)   password
//	key       GET, no pending user                                       password
//	key       GET, no key                                                code
//	key       GET                                                        key
//	key       key passed                                                 done
//	key       key failed (attempts left)                                 key
//	key       key failed, now blocked (the pending sign-in ends)         password
//	done      first-party client, or consented on the page, or a         client
//	          remembered grant covers the scopes (no prompt=consent)
//	done      consent needed, prompt=none                                error
//	done      consent needed                                             consent
//	done      a POST to a step again (its answer was lost after the      done
//	          request was done), from the session it was done with
//	done      a POST to a step again, without that session               expired
//
// The consent page's Allow goes on to the client (and remembers the
// grant), Deny ends the request with access_denied (consent.go).
//
// # Limiters
//
// Handler holds them; cmd/gatehouse configures them. One IP block closes
// every step: a block earned with codes also refuses passwords, and the
// other way round.
//
//	step               guarded by
//	-----------------  --------------------------------------------------------------
//	password           Limiter ("pwd"): failures per client IP (password.ip_max_attempts)
//	                   and per account (password.max_attempts), the browser the account
//	                   last signed in from counted apart (device.go); the hashing slot
//	                   (Passwords.Acquire, busy.go) turns checks away with 503 when full
//	passkey            OTPLimiter ("otp"): per client IP, then per account once known
//	code, recovery,    OTPLimiter: every check reserves an attempt first; lockout.max_attempts
//	enroll, key        wrong ones block the client IP for lockout.block_duration, and
//	                   lockout.account_max_attempts per lockout.account_window block the
//	                   account (its owner is emailed); an emailed code dies after
//	                   lockout.max_attempts wrong entries from any IPs (lockout.CodeCounter,
//	                   an entry reserved on it before it is compared)
//	code and enroll    the resend cooldown (second_factor.email_resend_cooldown: one live
//	emails             code, IssueCode refuses a newer one sooner) and MailLimiter ("mail"):
//	                   code emails per client IP and per account (second_factor.email_max_*)
//	consent            none: the flow cookie binds the request and forms carry CSRF tokens
//
// Registration and password recovery have their own limiters (RegLimiter,
// RecoverLimiter), which count each request before anything is sent; an
// email change's confirmation link counts against RecoverLimiter for its
// new address too. The account area's code checks share OTPLimiter, and
// its password checks Limiter.
//
// # Rules every step keeps
//
// Steps never trust the browser for progress: everything that matters is
// read back from storage, and every step is bound to the browser that
// started the request (its flow cookie, binding.go). The steps after the
// password also want the cookie the password step set (pendingCookie,
// otp.go), and the consent page and the callback the session the sign-in
// left (checkDoneSession): the flow cookie is what the browser had before
// the user proved anything, and may have been planted. The provider is
// reached only through the injected Callback and Fail functions, so this
// package does not import it.
//
// Every failure of the password step shows one message, whether the
// account is unknown, disabled or the password wrong; unknown accounts
// still pay for an argon2id verification.
//
// Security keys and passkeys are in the webauthn*.go files, listed by what
// they hold in webauthn.go.
package login
