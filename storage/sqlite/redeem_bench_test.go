package sqlite_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// BenchmarkRedeemAuthCode measures the code exchange's write on SQLite:
// RedeemAuthCode, which reads the code's grant inside the transaction
// that uses it, on the writer connection, against the two calls it
// replaced (CodeGrant on a reader connection, then UseAuthCode). Each
// runs alone and from 8 goroutines at once; in WAL mode a reader
// connection drops its page cache whenever another has committed, so
// under concurrent commits every CodeGrant starts cold. Compare with
// BenchmarkFloor's one-row write.
func BenchmarkRedeemAuthCode(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "redeem.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	must(b, s.CreateClient(ctx, &storage.Client{ID: "c1", Name: "c1", RedirectURIs: []string{"https://c1.example.com/cb"},
		SigningAlgorithm: "ES256", AccessTokenFormat: "opaque", CreatedAt: now, UpdatedAt: now}))
	must(b, s.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", Name: "u1", CreatedAt: now, UpdatedAt: now}))

	var serial atomic.Int64
	// codes stores n completed requests with a code each and returns the
	// codes' hashes.
	codes := func(b *testing.B, n int) [][]byte {
		hashes := make([][]byte, n)
		for i := range hashes {
			id := fmt.Sprintf("ar-%d", serial.Add(1))
			must(b, s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: id, ClientID: "c1", RedirectURI: "https://c1.example.com/cb",
				Scopes: []string{"openid", "email"}, ResponseType: "code", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
			must(b, s.CompleteAuthRequest(ctx, id, "u1", now, []string{"pwd", "otp"}, "", now))
			h := sha256.Sum256([]byte(id))
			hashes[i] = h[:]
			must(b, s.SaveAuthCode(ctx, &storage.AuthCode{Hash: hashes[i], AuthRequestID: id, ExpiresAt: now.Add(time.Hour)}))
		}
		return hashes
	}
	token := func(ar *storage.AuthRequest) *storage.AccessToken {
		return &storage.AccessToken{ID: "at-" + ar.ID, ClientID: ar.ClientID, Subject: ar.UserID, Scopes: ar.Scopes,
			Audience: []string{ar.ClientID}, GrantID: ar.ID, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	}
	ways := []struct {
		name   string
		redeem func(hash []byte) error
	}{
		{"redeem", func(hash []byte) error {
			_, _, _, err := s.RedeemAuthCode(ctx, hash, "c1", now, func(ar *storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
				return token(ar), nil, nil
			})
			return err
		}},
		{"read-then-use", func(hash []byte) error {
			ar, _, _, err := s.CodeGrant(ctx, hash)
			if err != nil {
				return err
			}
			return s.UseAuthCode(ctx, hash, ar.ID, now, token(ar), nil)
		}},
	}
	for _, w := range ways {
		b.Run(w.name, func(b *testing.B) {
			hashes := codes(b, b.N)
			b.ResetTimer()
			for i := range b.N {
				if err := w.redeem(hashes[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(w.name+"/parallel", func(b *testing.B) {
			hashes := codes(b, b.N)
			var next atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := w.redeem(hashes[next.Add(1)-1]); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
