package main

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := clientIPResolver{trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name     string
		resolver clientIPResolver
		peer     string
		xff      []string
		want     string
	}{
		{"no trust list ignores XFF", clientIPResolver{}, "127.0.0.5:1234", []string{"1.1.1.1"}, "127.0.0.5"},
		{"untrusted peer ignores XFF", trusted, "127.0.0.3:1234", []string{"1.1.1.1, 9.9.9.9"}, "127.0.0.3"},
		{"trusted peer: rightmost hop", trusted, "127.0.0.1:1234", []string{"1.1.1.1, 9.9.9.9"}, "9.9.9.9"},
		{"skips trusted hops", trusted, "127.0.0.1:1234", []string{"1.1.1.1, 9.9.9.9, 10.1.2.3"}, "9.9.9.9"},
		{"several headers", trusted, "127.0.0.1:1234", []string{"1.1.1.1", "8.8.8.8"}, "8.8.8.8"},
		{"garbled hop: the peer", trusted, "127.0.0.1:1234", []string{"1.1.1.1, bogus"}, "127.0.0.1"},
		{"all trusted: the peer", trusted, "127.0.0.1:1234", []string{"10.0.0.1"}, "127.0.0.1"},
		{"no header: the peer", trusted, "127.0.0.1:1234", nil, "127.0.0.1"},
		{"mapped v4 folded", clientIPResolver{}, "[::ffff:127.0.0.9]:1", nil, "127.0.0.9"},
		{"ipv6 peer", clientIPResolver{}, "[2001:db8::1]:1", nil, "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.resolver.resolve(r).String(); got != tt.want {
				t.Errorf("resolve = %s, want %s", got, tt.want)
			}
		})
	}
}
