package op

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// floorClaims are the claims of the ID token of a code exchange that
// BenchmarkExchangeFloor signs: those Gatehouse's carry, in a struct
// marshalled once, as a token endpoint of Gatehouse's own would have them.
type floorClaims struct {
	Issuer        string   `json:"iss"`
	Subject       string   `json:"sub"`
	Audience      []string `json:"aud"`
	Expiration    int64    `json:"exp"`
	IssuedAt      int64    `json:"iat"`
	AuthTime      int64    `json:"auth_time"`
	Nonce         string   `json:"nonce,omitempty"`
	ACR           string   `json:"acr,omitempty"`
	AMR           []string `json:"amr,omitempty"`
	AZP           string   `json:"azp"`
	AtHash        string   `json:"at_hash"`
	SID           string   `json:"sid,omitempty"`
	Email         string   `json:"email,omitempty"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name,omitempty"`
}

// floorResponse is the token endpoint's answer of a code exchange.
type floorResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	IDToken     string `json:"id_token"`
}

// BenchmarkExchangeFloor bounds what any token endpoint of Gatehouse's own
// could make of the ES256 code exchange, which gatehouse-bench compares
// with a plain handler that signs one ES256 ID token and stores nothing
// (its target: half that handler's rate). Every case runs from 16
// goroutines on the real store and reports the process's CPU per
// operation; compare the cases of one run:
//
//   - plain: the plain handler's work without its HTTP (claims in a map,
//     one ES256 signature, the answer's JSON);
//   - redeem: the store's one write of the exchange (RedeemAuthCode: the
//     code's single use, its request deleted, the access token recorded);
//   - redeem-unrecorded: the same write without the access token's record,
//     the least a code's single use across replicas can cost;
//   - floor: what an endpoint of Gatehouse's own that keeps every
//     property would do: the form parsed, the client authenticated, the
//     code used through Storage.AuthRequestByCode (PKCE, the binding, the
//     grant's user and session read in the write), an ID token from a
//     struct, the opaque access token sealed, the answer's JSON;
//   - floor-unrecorded: floor with the access token left unrecorded;
//   - exchange: the whole provider, zitadel's token endpoint included.
//
// gatehouse-bench's ratio is about plain / (plain + the case's extra CPU
// + HTTP's share), so floor − plain bounds the gain of replacing zitadel's
// endpoint: cmd/gatehouse-bench/README.md works it out.
func BenchmarkExchangeFloor(b *testing.B) {
	forBackends(b, func(b *testing.B, e *benchEnv) {
		client := e.clients[ES256]
		ctx := context.WithValue(context.Background(), clientIDKey{}, client)
		zkey, err := e.st.SigningKey(ctx)
		if err != nil {
			b.Fatal(err)
		}
		key := zkey.(zopSigningKey)
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: key.alg, Key: jose.JSONWebKey{Key: key.key, KeyID: key.id}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			b.Fatal(err)
		}
		signClaims := func(claims any) (string, error) {
			payload, err := json.Marshal(claims)
			if err != nil {
				return "", err
			}
			jws, err := signer.Sign(payload)
			if err != nil {
				return "", err
			}
			return jws.CompactSerialize()
		}
		plainClaims := map[string]any{"iss": "https://id.example", "sub": e.user, "aud": []string{client},
			"auth_time": time.Now().Unix(), "nonce": "n", "acr": ACRValues[2], "amr": []string{"pwd", "otp", "mfa"},
			"azp": client, "at_hash": "k0VwJRo3Bs4l5sD6n2bQtA", "email": "bench@example.com", "email_verified": true, "name": "Bench"}

		// exchange uses code as a token endpoint of Gatehouse's own would:
		// unrecorded leaves the access token out of the write.
		exchange := func(code, verifier string, unrecorded bool) error {
			r := tokenRequest(client, url.Values{"grant_type": {"authorization_code"},
				"code": {code}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}})
			if err := r.ParseForm(); err != nil {
				return err
			}
			c, err := e.st.authenticateRequest(r)
			if err != nil {
				return err
			}
			ctx := storage.WithRequestCounts(context.WithValue(r.Context(), memoKey{}, &requestMemo{}))
			ctx = withCodeExchange(withAuthenticatedClient(ctx, c), r.Form)
			ctx = withClientID(ctx, c.ID)
			var (
				ar      *storage.AuthRequest
				subject string
				tokenID string
			)
			if unrecorded {
				ar, _, _, err = e.store.RedeemAuthCode(ctx, hashSecret(code), c.ID, time.Now(),
					func(ar *storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
						if err := e.st.exchangeRefusal(ctx, ar); err != nil {
							return nil, nil, err
						}
						return nil, nil, nil
					})
				if err != nil {
					return err
				}
				subject, tokenID = ar.UserID, sortableID(time.Now())
			} else {
				req, err := e.st.AuthRequestByCode(ctx, code)
				if err != nil {
					return err
				}
				a := req.(authRequest)
				ar, subject, tokenID = a.r, a.r.UserID, a.token.ID
			}
			access, err := e.p.sealer.Encrypt(tokenID + ":" + subject)
			if err != nil {
				return err
			}
			atHash, err := oidc.ClaimHash(access, key.alg)
			if err != nil {
				return err
			}
			now := time.Now()
			idToken, err := signClaims(&floorClaims{Issuer: "https://id.example", Subject: subject, Audience: []string{c.ID},
				Expiration: now.Add(time.Hour).Unix(), IssuedAt: now.Unix(), AuthTime: ar.AuthTime.Unix(), Nonce: ar.Nonce,
				ACR: ar.ACR, AMR: ar.AMR, AZP: c.ID, AtHash: atHash, Email: "bench@example.com", EmailVerified: true, Name: "Bench"})
			if err != nil {
				return err
			}
			_, err = json.Marshal(&floorResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: 900, IDToken: idToken})
			return err
		}
		record := func(ar *storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) {
			now := time.Now()
			return &storage.AccessToken{ID: sortableID(now), ClientID: ar.ClientID, Subject: ar.UserID, Scopes: ar.Scopes,
				Audience: []string{ar.ClientID}, GrantID: ar.ID, ExpiresAt: now.Add(15 * time.Minute), CreatedAt: now}, nil, nil
		}
		cases := []struct {
			name string
			op   func(code, verifier string) error
		}{
			{"plain", func(string, string) error {
				c := make(map[string]any, len(plainClaims)+2)
				for k, v := range plainClaims {
					c[k] = v
				}
				now := time.Now().Unix()
				c["iat"], c["exp"] = now, now+3600
				jwt, err := signClaims(c)
				if err != nil {
					return err
				}
				_, err = json.Marshal(map[string]any{"access_token": rand.Text() + rand.Text(), "token_type": "Bearer", "expires_in": 900, "id_token": jwt})
				return err
			}},
			{"redeem", func(code, _ string) error {
				_, _, _, err := e.store.RedeemAuthCode(ctx, hashSecret(code), client, time.Now(), record)
				return err
			}},
			{"redeem-unrecorded", func(code, _ string) error {
				_, _, _, err := e.store.RedeemAuthCode(ctx, hashSecret(code), client, time.Now(),
					func(*storage.AuthRequest) (*storage.AccessToken, *storage.RefreshToken, error) { return nil, nil, nil })
				return err
			}},
			{"floor", func(code, verifier string) error { return exchange(code, verifier, false) }},
			{"floor-unrecorded", func(code, verifier string) error { return exchange(code, verifier, true) }},
			{"exchange", func(code, verifier string) error {
				rec := httptest.NewRecorder()
				e.p.ServeHTTP(rec, tokenRequest(client, url.Values{"grant_type": {"authorization_code"},
					"code": {code}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}))
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"id_token"`) {
					return fmt.Errorf("exchange = %d: %s", rec.Code, rec.Body)
				}
				return nil
			}},
		}
		for _, c := range cases {
			b.Run(c.name, func(b *testing.B) {
				codes, verifier := e.pendingCodes(b, client, b.N)
				var next atomic.Int64
				b.SetParallelism(8)
				cpu := processCPU()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := c.op(codes[next.Add(1)-1], verifier); err != nil {
							b.Error(err)
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	})
}
