package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-idp/gatehouse/login"
)

// newWebAuthn returns the WebAuthn relying party of the issuer: its host
// is the relying-party id, its scheme, host and port the one origin
// accepted. WebAuthn refuses IP addresses as relying-party ids, so an
// issuer such as http://127.0.0.1:8080 serves without security keys and
// passkeys (nil, and a warning); use a host name, http://localhost:8080
// on one machine.
func newWebAuthn(issuer string, logger *slog.Logger) (*login.WebAuthnRP, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("issuer: %q is not an absolute URL", issuer)
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		logger.Warn("issuer host is an IP address: security keys and passkeys are off; WebAuthn needs a host name (e.g. http://localhost:8080)", "issuer", issuer)
		return nil, nil
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: "Gatehouse",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
	})
	if err != nil {
		return nil, fmt.Errorf("issuer: security keys and passkeys need the issuer's host as WebAuthn relying-party id: %w", err)
	}
	return w, nil
}
