package op

import (
	"net/http/httptest"
	"testing"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// TestIntrospectionJSON requires the introspection answers Gatehouse
// encodes itself (introspected.appendJSON) to be byte for byte zitadel's:
// what fill sets in zitadel's IntrospectionResponse, written by its
// MarshalJSON, as zitadel's Introspect answers.
func TestIntrospectionJSON(t *testing.T) {
	t.Parallel()
	issued := time.Unix(1796624568, 0)
	expires := issued.Add(15 * time.Minute)
	for _, tt := range []struct {
		name string
		t    *introspected
	}{
		{"inactive", nil},
		{"user's access token", &introspected{tokenType: oidc.BearerToken, clientID: "app", subject: "u1", username: "ada@example.com",
			scopes: []string{"openid", "email", "offline_access"}, audience: []string{"app", "api"}, issued: issued, expires: expires}},
		{"client_credentials", &introspected{tokenType: oidc.BearerToken, clientID: "svc", subject: "svc",
			audience: []string{"https://id.example"}, issued: issued, expires: expires}},
		{"refresh token", &introspected{tokenType: refreshTokenType, clientID: "app", subject: "u1", username: "ada@example.com",
			scopes: []string{"openid"}, audience: []string{"app"}, issued: issued, expires: expires}},
		{"DPoP-bound", &introspected{tokenType: oidc.BearerToken, clientID: "app", subject: "u1", username: "ada@example.com",
			dpopJKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", scopes: []string{"openid", "profile"},
			audience: []string{"app"}, issued: issued, expires: expires}},
		{"DPoP-bound refresh token", &introspected{tokenType: refreshTokenType, clientID: "app", subject: "u1",
			dpopJKT: "jkt", scopes: []string{"openid"}, issued: issued, expires: expires}},
		{"DPoP-bound, nothing else", &introspected{dpopJKT: "jkt"}},
		{"an empty scope", &introspected{tokenType: oidc.BearerToken, clientID: "app", scopes: []string{""}, issued: issued, expires: expires}},
		{"an empty scope, DPoP-bound", &introspected{tokenType: oidc.BearerToken, clientID: "app", scopes: []string{""}, dpopJKT: "k"}},
		{"no times", &introspected{tokenType: oidc.BearerToken, clientID: "app", subject: "app", issued: time.Unix(0, 0)}},
		{"characters to escape", &introspected{tokenType: oidc.BearerToken, clientID: `a"<b>&\`, subject: "ü\u2028\x01",
			username: "x\xffy", scopes: []string{"a<b", "c\xfe&d"}, audience: []string{"<script>", "\xc3("}, dpopJKT: "</jkt\x80>"}},
		{"characters to escape, not bound", &introspected{tokenType: oidc.BearerToken, clientID: `a"<b>&\`, subject: "ü\u2028\x01",
			username: "x\xffy", scopes: []string{"a<b", "c&d"}, audience: []string{"<script>"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := new(oidc.IntrospectionResponse)
			if tt.t != nil {
				tt.t.fill(resp)
			}
			want := httptest.NewRecorder()
			httphelper.MarshalJSON(want, resp)
			if got := string(tt.t.appendJSON(nil)); got != want.Body.String() {
				t.Errorf("got  %s\nwant %s", got, want.Body)
			}
		})
	}
}
