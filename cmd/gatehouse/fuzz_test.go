package main

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// FuzzClientIP feeds arbitrary X-Forwarded-For chains: the resolved client
// IP is always valid, and without trusted proxies it is the peer.
func FuzzClientIP(f *testing.F) {
	for _, seed := range []string{"1.1.1.1", "1.1.1.1, 9.9.9.9", "bogus", ", ,", "::ffff:1.2.3.4", "2001:db8::1, 10.0.0.1", ""} {
		f.Add(seed)
	}
	trusted := clientIPResolver{trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}}
	f.Fuzz(func(t *testing.T, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:1234"
		r.Header.Set("X-Forwarded-For", xff)
		if ip := trusted.resolve(r); !ip.IsValid() {
			t.Fatalf("invalid client IP for %q", xff)
		}
		if ip := (clientIPResolver{}).resolve(r); ip.String() != "127.0.0.1" {
			t.Fatalf("without trusted proxies, %q gave %s", xff, ip)
		}
	})
}
