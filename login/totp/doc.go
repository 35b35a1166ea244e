// Package totp implements the time-based one-time passwords of RFC 6238 as
// authenticator apps (Google Authenticator, Microsoft Authenticator and the
// like) compute them: HMAC-SHA1, 6 digits, a 30-second period.
//
// Generate creates a key for enrolment: a fresh 160-bit secret, the
// otpauth:// URL that apps import, and its QR code. Verify checks a code
// typed by the user against the previous, current and next time step and
// returns the step it matched. RFC 6238 §5.2 requires that a code be
// accepted only once, so Verify refuses any step at or before the last one
// accepted for that user; the caller stores the returned step with an atomic
// compare-and-set (UPDATE … SET last_step = $1 WHERE … AND last_step < $1)
// so that concurrent submissions of one code succeed at most once.
//
// Verify does not limit attempts: with a window of three steps a guess
// succeeds with probability 3·10⁻⁶, so callers must rate-limit it.
package totp
