package login

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrand: the brand's name replaces Gatehouse on every page (titles and
// text), its logo and links are in the header and footer, and its colour
// is the light theme's accent (/brand.css); without a brand the pages are
// Gatehouse's own and load no brand stylesheet.
func TestBrand(t *testing.T) {
	t.Parallel()
	brand := Brand{Name: "Axxon Datacenter", Logo: "/static/axxon.svg", PrimaryColor: "#0b3d91",
		SupportURL: "https://help.example.com/", SupportEmail: "help@example.com",
		PrivacyURL: "https://example.com/privacy", TermsURL: "https://example.com/terms"}
	branded := newHarness(t, func(h *Handler) { h.Brand = brand })
	plain := newHarness(t)

	pages := func(hs *harness, t *testing.T) map[string]string {
		b := hs.browser("192.0.2.1")
		id := hs.authorize(b, testClientID, nil)
		out := map[string]string{}
		for _, path := range []string{"/login?authRequestID=" + id, "/recover", "/register", "/signed-out"} {
			r := b.get(path)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s = %d", path, r.status)
			}
			out[path] = r.body
		}
		return out
	}
	t.Run("branded", func(t *testing.T) {
		for path, body := range pages(branded.in(t), t) {
			want := []string{"· Axxon Datacenter</title>", `<link rel="stylesheet" href="/brand.css">`,
				`<img class="logo" src="/static/axxon.svg"`}
			if !strings.HasPrefix(path, "/login?") { // no footer during a sign-in in progress
				want = append(want, `href="https://help.example.com/"`, `href="mailto:help@example.com"`,
					`href="https://example.com/privacy"`, `href="https://example.com/terms"`)
			}
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s lacks %s", path, w)
				}
			}
			if strings.Contains(body, "Gatehouse") {
				t.Errorf("GET %s still names Gatehouse:\n%s", path, body)
			}
		}
		r := branded.browser("192.0.2.1").get(BrandCSSPath)
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") ||
			!strings.Contains(r.body, "prefers-color-scheme: light") || !strings.Contains(r.body, "--accent: #0b3d91") {
			t.Errorf("GET %s = %d %q:\n%s", BrandCSSPath, r.status, r.header.Get("Content-Type"), r.body)
		}
	})
	t.Run("plain", func(t *testing.T) {
		for path, body := range pages(plain.in(t), t) {
			if !strings.Contains(body, "· Gatehouse</title>") || strings.Contains(body, "/brand.css") || strings.Contains(body, `class="logo"`) {
				t.Errorf("GET %s without a brand: want Gatehouse's title and no brand stylesheet or logo:\n%s", path, body)
			}
		}
		if r := plain.browser("192.0.2.1").get(BrandCSSPath); strings.Contains(r.body, "--accent") {
			t.Errorf("GET %s without a brand colour sets one:\n%s", BrandCSSPath, r.body)
		}
	})
	t.Run("colour not #rrggbb is left out", func(t *testing.T) {
		hs := newHarness(t, func(h *Handler) { h.Brand = Brand{PrimaryColor: "red; } body { display: none"} })
		if r := hs.browser("192.0.2.1").get(BrandCSSPath); strings.Contains(r.body, "--accent") || strings.Contains(r.body, "display") {
			t.Errorf("GET %s put an unchecked colour in the stylesheet:\n%s", BrandCSSPath, r.body)
		}
	})
}
