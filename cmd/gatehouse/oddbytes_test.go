package main

import (
	"net/http"
	"testing"
)

// TestOddBytesInAddresses types addresses that are not UTF-8 or hold NUL
// into the sign-in, recovery and registration forms, on both backends:
// each is refused as a wrong or invalid address. PostgreSQL refuses such
// text outright, and the sign-in answered 503, as for a database outage,
// before NormalizeEmail turned it away.
func TestOddBytesInAddresses(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			g := startGatehouse(t, backend)
			g.createUser(alice, "Alice Liddell", alicePass)
			rp := newRelyingParty(t, g)
			for _, odd := range []string{"a\x00b@example.com", "a\xffb@example.com", alice + "\x00"} {
				b := newBrowser(t)
				page, _ := b.follow(rp.newFlow().authURL, rpRedirect)
				if page == nil {
					t.Fatal("no sign-in page")
				}
				form := formFields(page.body)
				form.Set("email", odd)
				form.Set("password", alicePass)
				if r := b.post(g.base+"/login", form); r.StatusCode != http.StatusUnauthorized {
					t.Errorf("POST /login with the address %q = %d, want 401", odd, r.StatusCode)
				}
				for _, path := range []string{"/recover", "/register"} {
					fb := newBrowser(t)
					fm := formFields(fb.get(g.base + path).body)
					fm.Set("email", odd)
					fm.Set("name", "Odd")
					fm.Set("password", "a long enough passphrase 42")
					fm.Set("confirm", "a long enough passphrase 42")
					if r := fb.post(g.base+path, fm); r.StatusCode >= 500 {
						t.Errorf("POST %s with the address %q = %d", path, odd, r.StatusCode)
					}
				}
			}
		})
	}
}
