package lockout

import (
	"net/netip"
	"testing"
)

func TestKey(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		key  Key
		want string
	}{
		{IPCounter("otp", netip.MustParseAddr("::ffff:192.0.2.1")), "otp:ip:192.0.2.1"},
		{IPCounter("pwd", v6), "pwd:ip:2001:db8::/64"},
		{AccountCounter("pwd", "alice@example.com"), "pwd:acct:alice@example.com"},
		{DeviceCounter("pwd", "alice@example.com", "d1"), "pwd:dev:d1:acct:alice@example.com"},
	}
	for _, tt := range tests {
		if got := tt.key.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.key, got, tt.want)
		}
		if got, ok := ParseKey(tt.want); !ok || got != tt.key {
			t.Errorf("ParseKey(%q) = %+v, %v, want %+v", tt.want, got, ok, tt.key)
		}
	}
	if got, ok := ParseKey("pwd:ip"); ok || got != (Key{Subject: "pwd:ip"}) {
		t.Errorf(`ParseKey("pwd:ip") = %+v, %v, want the whole string as subject and false`, got, ok)
	}
	if got := (Key{Scope: "otp", Kind: KindIP}).Prefix(); got != "otp:ip:" {
		t.Errorf("Prefix = %q", got)
	}
	if got := IPCounter("", v6).Suffix(); got != ":ip:2001:db8::/64" {
		t.Errorf("Suffix = %q", got)
	}
}
