package login

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/teststore"
)

// TestFirstKeyRacesApp: a session that signed in with the password alone
// finishes 10 security key registrations and confirms the authenticator
// app 10 times, all at once. At most one key is added (a key from such a
// session only as the first factor, checked with the insert in the
// transaction that locks the user's row); the app, which carries no such
// rule (a password-only session may turn it on beside a key, one after
// the other as well), is confirmed once; and the first factor's recovery
// codes are issued once, one set, whichever factor came first.
func TestFirstKeyRacesApp(t *testing.T) {
	t.Parallel()
	for _, backend := range teststore.Backends {
		t.Run(backend, func(t *testing.T) {
			hs := newHarnessOn(t, backend, withWebAuthn(t))
			for round := range 3 {
				u := hs.user(fmt.Sprintf("first-race-%d@example.com", round), nil)
				b := hs.signedIn(u, fmt.Sprintf("192.0.2.%d", 160+round))
				sec := b.get("/account/security").body
				enrol := b.post("/account/security/totp/enable", formOf(t, sec, "/account/security/totp/enable"))
				secret := firstMatch(secretRE, enrol.body)
				if enrol.status != http.StatusOK || secret == "" {
					t.Fatalf("totp/enable = %d %q", enrol.status, alert(enrol.body))
				}
				confirm := with(formOf(t, enrol.body, "/account/security/totp/enable-confirm"), "code", hs.totpCode(secret))
				csrf := keyCSRF(t, b.get("/account/security").body, "register")
				const prefix = "/account/security/webauthn/register"
				var finishes []string
				for i := range 10 {
					status, ch := b.keyCall(t, prefix+"/begin", csrf, map[string]any{"name": fmt.Sprint("key ", i)})
					if status != http.StatusOK || ch.Ceremony == "" {
						t.Fatalf("register begin = %d %+v", status, ch)
					}
					body, _ := json.Marshal(map[string]any{"ceremony": ch.Ceremony, "credential": newSoftKey(t).create(t, ch.PublicKey.Challenge)})
					finishes = append(finishes, string(body))
				}

				var (
					wg                      sync.WaitGroup
					mu                      sync.Mutex
					keysOK, appOK, codePage int
				)
				start := make(chan struct{})
				for i := range 20 {
					wg.Go(func() {
						<-start
						if i%2 == 0 {
							r := b.postJSON(prefix+"/finish", csrf, finishes[i/2])
							var reply keyReply
							_ = json.Unmarshal([]byte(r.body), &reply)
							mu.Lock()
							defer mu.Unlock()
							if r.status == http.StatusOK {
								keysOK++
								if reply.Redirect != "/account/security?done=webauthn-on" {
									codePage++ // the page that shows the codes once
								}
							}
							return
						}
						r := b.post("/account/security/totp/enable-confirm", confirm)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case r.status == http.StatusOK && strings.Contains(r.body, "<li><code>"):
							appOK++
							codePage++
						case r.status == http.StatusSeeOther && r.loc == "/account/security?done=totp-on":
							appOK++
						}
					})
				}
				close(start)
				wg.Wait()

				ctx := t.Context()
				keys, err := hs.store.WebAuthnCredentials(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				tp, err := hs.store.TOTPByUser(ctx, u.ID)
				app := err == nil && tp.Confirmed
				left, err := hs.store.RecoveryCodesLeft(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				issued, err := hs.store.Events(ctx, storage.EventFilter{UserID: u.ID, Type: storage.EventRecoveryIssued, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("round %d: %d keys (%d finishes answered 200), app %t (%d confirms), %d code pages, %d sets issued",
					round, len(keys), keysOK, app, appOK, codePage, len(issued))
				if len(keys) > 1 || keysOK != len(keys) {
					t.Errorf("round %d: %d keys stored, %d finishes answered 200; want at most one, as many as answered", round, len(keys), keysOK)
				}
				if len(keys) == 0 && !app {
					t.Errorf("round %d: no factor enabled", round)
				}
				if len(issued) != 1 || left != recoveryCodeCount || codePage != 1 {
					t.Errorf("round %d: %d recovery code sets issued, %d codes left, %d pages showed codes; want one set of %d, shown once",
						round, len(issued), left, codePage, recoveryCodeCount)
				}
			}
		})
	}
}
