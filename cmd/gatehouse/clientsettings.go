package main

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/admin"
)

// The flags of clients update that change a client's settings (package
// admin checks and stores them).

// optionalBool is a boolean flag that knows whether it was given:
// --require-par alone means true, --require-par=false false.
type optionalBool struct {
	set, value bool
}

func (b *optionalBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.value)
}

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q: want true or false", s)
	}
	b.set, b.value = true, v
	return nil
}

func (b *optionalBool) IsBoolFlag() bool { return true }

// ptr returns a pointer to the flag's value, or nil when it was not given.
func (b *optionalBool) ptr() *bool { return given(b.set, b.value) }

// optionalString is a string flag that knows whether it was given, so
// that --backchannel-logout-uri "" (remove it) differs from no flag.
type optionalString struct {
	set   bool
	value string
}

func (s *optionalString) String() string {
	if s == nil {
		return ""
	}
	return s.value
}

func (s *optionalString) Set(v string) error {
	s.set, s.value = true, v
	return nil
}

func (s *optionalString) ptr() *string { return given(s.set, s.value) }

// given returns a pointer to v if set, else nil.
func given[T any](set bool, v T) *T {
	if !set {
		return nil
	}
	return &v
}

// settingsFlags are the flags of clients update that change settings.
type settingsFlags struct {
	requirePAR, consent, dpop, requireMFA optionalBool
	backchannel, alg, format              optionalString
}

func (f *settingsFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.requirePAR, "require-par", "true: accept only pushed authorization requests (RFC 9126) from this client; false: plain ones too")
	fs.Var(&f.consent, "consent", "true: a third-party client, whose users allow it its scopes on a consent page; false: a first-party one")
	fs.Var(&f.dpop, "dpop", "true: the client's token requests must carry a DPoP proof (RFC 9449); false: bearer tokens are fine")
	fs.Var(&f.requireMFA, "require-mfa", "true: issue tokens only after a second factor; false: a password is enough")
	fs.Var(&f.alg, "signing-alg", "ID token (and JWT access token) signing algorithm: RS256, ES256 or EdDSA")
	fs.Var(&f.format, "access-token-format", "access tokens: opaque, or jwt")
	fs.Var(&f.backchannel, "backchannel-logout-uri", "where logout tokens are posted when a session the client signed in through ends (\"\" removes it)")
}

func (f *settingsFlags) settings() admin.ClientSettings {
	return admin.ClientSettings{
		RequirePAR:            f.requirePAR.ptr(),
		Consent:               f.consent.ptr(),
		DPoPBoundAccessTokens: f.dpop.ptr(),
		BackchannelLogoutURI:  f.backchannel.ptr(),
		RequireMFA:            f.requireMFA.ptr(),
		SigningAlgorithm:      f.alg.ptr(),
		AccessTokenFormat:     f.format.ptr(),
	}
}
