package lockout

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// BenchmarkLimiter measures the limiter on real databases (PostgreSQL when
// GATEHOUSE_TEST_POSTGRES_DSN names one): Blocked runs before every
// password or code check, Fail after every wrong one (an atomic SQL upsert
// per counter).
func BenchmarkLimiter(b *testing.B) {
	for _, backend := range teststore.Backends {
		b.Run(backend, func(b *testing.B) {
			store := teststore.Open(b, backend)
			l := &Limiter{
				Store: store, Now: time.Now, Scope: "pwd",
				IP:            storage.Limit{Max: 1 << 30, Window: time.Hour, Block: time.Hour},
				Account:       storage.Limit{Max: 1 << 30, Window: time.Hour, Block: time.Hour},
				AlsoBlockedBy: []string{"otp"},
			}
			ctx := context.Background()
			ip := netip.MustParseAddr("192.0.2.7")
			b.Run("Blocked", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if until, err := l.Blocked(ctx, ip, "someone@example.com"); err != nil || !until.IsZero() {
						b.Fatalf("Blocked = %v, %v", until, err)
					}
				}
			})
			b.Run("Fail", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					if _, err := l.Fail(ctx, ip, "account"+strconv.Itoa(i%100)+"@example.com"); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
