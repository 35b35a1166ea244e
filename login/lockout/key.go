package lockout

import (
	"net/netip"
	"strings"
)

// Kinds of attempt counter: what a Key's subject is.
const (
	KindIP      = "ip"   // a client IP address (IPKey)
	KindAccount = "acct" // an account
	KindDevice  = "dev"  // an account on one browser (ReserveOnDevice)
	KindCode    = "code" // one emailed code (CodeCounter)
)

// Key is the key of an attempt counter, "<scope>:<kind>:<subject>": for
// example "otp:ip:192.0.2.1" or "pwd:acct:alice@example.com". The store
// keeps it as its String; ParseKey reads it back.
type Key struct {
	Scope   string // the Limiter's Scope, e.g. "pwd", "otp"
	Kind    string // KindIP, KindAccount, KindDevice or KindCode
	Subject string // an IPKey, an account, "<device>:acct:<account>" or a code's id
}

// IPCounter is the key of the counter of ip in scope.
func IPCounter(scope string, ip netip.Addr) Key {
	return Key{Scope: scope, Kind: KindIP, Subject: IPKey(ip)}
}

// AccountCounter is the key of the counter of account in scope.
func AccountCounter(scope, account string) Key {
	return Key{Scope: scope, Kind: KindAccount, Subject: account}
}

// DeviceCounter is the key of the counter of account on the browser
// device in scope.
func DeviceCounter(scope, account, device string) Key {
	return Key{Scope: scope, Kind: KindDevice, Subject: device + ":" + KindAccount + ":" + account}
}

// CodeCounter is the key of the counter of wrong entries of one emailed
// code, by its id, in scope.
func CodeCounter(scope, codeID string) Key {
	return Key{Scope: scope, Kind: KindCode, Subject: codeID}
}

// ParseKey splits a counter key into scope, kind and subject (which may
// hold colons). A string of fewer than three parts gives ok false and a
// Key whose Subject is s.
func ParseKey(s string) (k Key, ok bool) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 {
		return Key{Subject: s}, false
	}
	return Key{Scope: parts[0], Kind: parts[1], Subject: parts[2]}, true
}

// String returns the key as the store keeps it.
func (k Key) String() string {
	return k.Scope + ":" + k.Kind + ":" + k.Subject
}

// Prefix returns the start the keys of k's scope and kind share,
// "<scope>:<kind>:", as storage.BlockCounter counts them.
func (k Key) Prefix() string {
	return k.Scope + ":" + k.Kind + ":"
}

// Suffix returns the end the keys of k's kind and subject share in every
// scope, ":<kind>:<subject>", as storage.AttemptStore's ClearBlocks takes
// it.
func (k Key) Suffix() string {
	return ":" + k.Kind + ":" + k.Subject
}

// IPKey is the form of ip counters are kept under: IPv4-mapped addresses
// are folded to IPv4 and IPv6 addresses are grouped by /64, since one
// client usually owns a whole /64.
func IPKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
