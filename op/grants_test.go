package op

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestUnofferedGrants sends an authenticated client's token requests of
// grants that discovery does not advertise, with the parameters each
// needs: all get 400 unsupported_grant_type (RFC 6749 §5.2), the JWT
// bearer grant (RFC 7523 §2.1) included, which zitadel took up and
// answered as a bad assertion (invalid_request, invalid_grant), as if it
// were offered. The advertised grants are the ones the endpoint takes.
func TestUnofferedGrants(t *testing.T) {
	t.Parallel()
	e := newBenchEnv(t, teststore.Open(t, "sqlite"))
	client := e.clients[ES256]
	seg := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	assertion := seg(map[string]any{"alg": "RS256", "kid": "k"}) + "." +
		seg(map[string]any{"iss": client, "sub": e.user, "aud": "https://id.example", "iat": now, "exp": now + 60}) + ".c2ln"
	for _, form := range []url.Values{
		{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}},
		{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"not-a-jwt"}},
		{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}},
		{"grant_type": {"urn:ietf:params:oauth:grant-type:saml2-bearer"}, "assertion": {"PHNhbWw+"}},
		{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {"x"},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}},
		{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {"x"}},
		{"grant_type": {"password"}, "username": {"bench@example.com"}, "password": {"x"}},
		{"grant_type": {"implicit"}},
	} {
		rec := e.serve(t, tokenRequest(client, form), http.StatusBadRequest)
		if got := tokenError(t, rec.Body.Bytes()); got != "unsupported_grant_type" {
			t.Errorf("grant_type %s: %s, want unsupported_grant_type", form.Get("grant_type"), rec.Body)
		}
	}
	if !slices.Equal(GrantTypes, []string{"authorization_code", "refresh_token", "client_credentials"}) {
		t.Errorf("GrantTypes = %v", GrantTypes)
	}
	// The advertised ones are taken up (here refused for their own
	// reasons, not as unsupported).
	for _, form := range []url.Values{
		{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {benchRedirect}},
		{"grant_type": {"refresh_token"}, "refresh_token": {"x"}},
	} {
		rec := e.serve(t, tokenRequest(client, form), http.StatusBadRequest)
		if got := tokenError(t, rec.Body.Bytes()); got == "unsupported_grant_type" || strings.TrimSpace(got) == "" {
			t.Errorf("grant_type %s: %s, want its own refusal", form.Get("grant_type"), rec.Body)
		}
	}
}
