package login

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// BenchmarkSessionLookup measures what every SSO authorization request and
// account page does first: hash the session cookie and load the live
// session, on real databases (PostgreSQL when GATEHOUSE_TEST_POSTGRES_DSN
// names one).
func BenchmarkSessionLookup(b *testing.B) {
	for _, backend := range teststore.Backends {
		b.Run(backend, func(b *testing.B) {
			store := teststore.Open(b, backend)
			ctx := context.Background()
			now := time.Now()
			if err := store.CreateUser(ctx, &storage.User{ID: "u1", Email: "bench@example.com", PasswordHash: "x",
				CreatedAt: now, UpdatedAt: now}); err != nil {
				b.Fatal(err)
			}
			value := newSecret()
			if err := store.CreateSession(ctx, &storage.Session{ID: sessionID(value), UserID: "u1", AuthTime: now,
				AMR: []string{"pwd", "otp", "mfa"}, IP: "192.0.2.1", CreatedAt: now, LastSeenAt: now,
				ExpiresAt: now.Add(12 * time.Hour), IdleUntil: now.Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			h := &Handler{Store: store, Now: time.Now}
			r := httptest.NewRequest(http.MethodGet, "http://id.example/login", nil)
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
			b.ReportAllocs()
			for b.Loop() {
				s, err := h.currentSession(r)
				if err != nil || s == nil || s.UserID != "u1" {
					b.Fatalf("currentSession = %v, %v", s, err)
				}
			}
		})
	}
}
