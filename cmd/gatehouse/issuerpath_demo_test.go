package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/cmd/gatehouse/internal/demo"
)

// TestIssuerPathDemo signs in through the demo application (serve --demo)
// under the issuer http://127.0.0.1:PORT/id: the demo is at /id/demo, its
// sign-in goes through /id/authorize and the login page under /id, the ID
// token's iss is the issuer with its path, and sign-out comes back to
// /id/demo; the audit (ipAudit) checks every answer.
func TestIssuerPathDemo(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := newGatehouse(t, databaseURL(t, backend))
			origin := g.base
			g.base += ipPrefix
			g.env = append(g.env, "GATEHOUSE_ISSUER="+g.base)
			g.args = []string{"--demo"}
			g.start()
			m := demoPasswordRE.FindStringSubmatch(g.output())
			if m == nil {
				t.Fatalf("serve --demo printed no password:\n%s", g.output())
			}
			audit := &ipAudit{t: t, origin: origin}
			b := audit.browser()

			home := ipPage(t, b, g.base+"/demo")
			if !strings.Contains(home.body, `href="`+ipPrefix+`/demo/login"`) {
				t.Fatalf("the demo page does not link to %s/demo/login:\n%s", ipPrefix, home.body)
			}
			page, at := b.follow(g.base+"/demo/login", "")
			if page == nil || !strings.HasPrefix(at, g.base+"/login?") {
				t.Fatalf("the demo's sign-in landed at %s", at)
			}
			form := ipForm(t, page.body, ipPrefix+"/login")
			form.Set("email", demo.Email)
			form.Set("password", m[1])
			resp := b.post(origin+ipPrefix+"/login", form)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST %s/login = %d", ipPrefix, resp.StatusCode)
			}
			claims, at := b.follow(redirectTarget(resp), "")
			if at != g.base+"/demo" || claims.StatusCode != http.StatusOK ||
				!strings.Contains(claims.body, `<dt>iss</dt><dd><code>&#34;`+g.base+`&#34;</code></dd>`) {
				t.Fatalf("after the sign-in, landed on %s (%d):\n%s", at, claims.StatusCode, claims.body)
			}
			out, at := b.follow(g.base+"/demo/logout", "")
			if at != g.base+"/demo" || out == nil || !strings.Contains(out.body, `id="sign-in"`) {
				t.Errorf("after sign-out, landed on %s", at)
			}
		})
	}
}
