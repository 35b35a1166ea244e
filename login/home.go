package login

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// The account area signs people in as a client of Gatehouse itself: the
// built-in public client AccountClientID, whose only redirect URI is the
// issuer's AccountCallbackPath. A GET of / or of an account page without a
// session sends the browser to /authorize for it, so the sign-in is the
// one every application gets (the same steps, limits, messages and
// amr/acr rules); the session it starts is what lets the browser into the
// account area.
const (
	// AccountClientID is the reserved id of the account area's client.
	AccountClientID = "gatehouse-account"
	// AccountCallbackPath is where its sign-ins come back.
	AccountCallbackPath = "/account/callback"

	// accountSignInCookie holds the sign-in in progress: its state and
	// the path to return to, sealed.
	accountSignInCookie = "gh_account"
	accountSignInTTL    = 30 * time.Minute // as long as the auth request lives

	msgAccountSignInLost = "This sign-in was started in another browser or has expired. Please sign in again."
)

// AccountClient returns the account area's client for the issuer
// baseURL, as of now: public (PKCE, no secret), first-party (no consent),
// with no second factor required beyond what the user has set up, as an
// application created without --require-mfa.
func AccountClient(baseURL string, now time.Time) *storage.Client {
	return &storage.Client{
		ID:                      AccountClientID,
		Name:                    "Gatehouse account",
		Public:                  true,
		RedirectURIs:            []string{baseURL + AccountCallbackPath},
		PostLogoutRedirectURIs:  []string{},
		SigningAlgorithm:        "RS256",
		AccessTokenFormat:       "opaque",
		TokenEndpointAuthMethod: "none",
		GrantTypes:              storage.DefaultGrantTypes(),
		CreatedAt:               now,
		UpdatedAt:               now,
	}
}

// accountSignIn is the sealed content of accountSignInCookie.
type accountSignIn struct {
	State   string `json:"s"`
	Flow    []byte `json:"f"` // bindingHash of the browser's flow cookie
	Return  string `json:"p"`
	Expires int64  `json:"e"` // Unix seconds
}

func accountSignInAAD() []byte { return []byte("account sign-in") }

// homePath returns s if it is / or a path of the account area or the
// admin console (siteURL), and / otherwise: where a sign-in of the account
// area may return.
func homePath(s string) string {
	if u := siteURL(s, "/account", "/admin"); u != nil {
		return u.RequestURI()
	}
	return "/"
}

// showHome shows the account when the browser is signed in (or goes to
// next, a path of the account area), and otherwise signs it in, returning
// to next, or here.
func (h *Handler) showHome(w http.ResponseWriter, r *http.Request) error {
	next := homePath(r.URL.Query().Get("next"))
	sess, err := h.currentSession(r)
	if err != nil {
		return err
	}
	switch {
	case sess == nil:
		h.signInToAccount(w, r, next)
		return nil
	case next != "/":
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	return h.showAccount(w, r)
}

// signInToAccount sends the browser to sign in as the account area's
// client, to come back to back (homePath). The state and back are kept in
// a sealed, HttpOnly, SameSite=Lax cookie of this browser, bound to its
// flow cookie (the one /authorize binds the sign-in to), so that neither
// the cookie nor the callback URL works in another browser; the PKCE
// verifier is kept nowhere, since the code is never redeemed
// (accountCallback), so no one can redeem it.
func (h *Handler) signInToAccount(w http.ResponseWriter, r *http.Request, back string) {
	state := newSecret()
	sum := sha256.Sum256([]byte(newSecret()))
	plain, _ := json.Marshal(accountSignIn{State: state, Flow: bindingHash(h.flowValue(w, r)), Return: homePath(back),
		Expires: h.Now().Add(accountSignInTTL).Unix()})
	h.setCookie(w, accountSignInCookie,
		base64.RawURLEncoding.EncodeToString(h.Seal.Seal(plain, accountSignInAAD())), accountSignInTTL)
	q := url.Values{
		"client_id":             {AccountClientID},
		"response_type":         {"code"},
		"scope":                 {"openid"},
		"redirect_uri":          {h.BaseURL + AccountCallbackPath},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	if l := langOf(r.Context()); l != "" {
		q.Set("ui_locales", string(l))
	}
	http.Redirect(w, r, "/authorize?"+q.Encode(), http.StatusSeeOther)
}

// accountCallback ends a sign-in of the account area: the state must be
// the one this browser's cookie holds, the cookie must be bound to this
// browser's flow cookie, and the browser must now have a
// session (the sign-in started it); then it goes back where it came from.
// The code is not redeemed: the session cookie the sign-in set is what
// grants the account area, and the code, single-use, short-lived, bound to
// this browser's sign-in and to a PKCE challenge whose verifier no one
// kept, is worth nothing to whoever else may see it.
func (h *Handler) accountCallback(w http.ResponseWriter, r *http.Request) error {
	pending, ok := h.pendingAccountSignIn(r)
	h.clearCookie(w, accountSignInCookie)
	got := r.URL.Query().Get("state")
	flow := h.cookieValue(r, flowCookie)
	if !ok || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(pending.State)) != 1 ||
		flow == "" || subtle.ConstantTimeCompare(pending.Flow, bindingHash(flow)) != 1 {
		return userError(http.StatusBadRequest, "Sign-in failed", msgAccountSignInLost)
	}
	if r.URL.Query().Has("error") {
		// The provider answered with an error (the request expired, or
		// the user could not sign in): start over from the account home.
		return userError(http.StatusBadRequest, "Sign-in failed", "The sign-in did not complete. Please sign in again.")
	}
	sess, err := h.currentSession(r)
	if err != nil {
		return err
	}
	if sess == nil {
		return userError(http.StatusUnauthorized, "Not signed in", "You are not signed in.")
	}
	http.Redirect(w, r, homePath(pending.Return), http.StatusSeeOther)
	return nil
}

// pendingAccountSignIn opens the browser's accountSignInCookie; ok is
// false when it is absent, forged or expired.
func (h *Handler) pendingAccountSignIn(r *http.Request) (p accountSignIn, ok bool) {
	c, err := r.Cookie(h.CookieName(accountSignInCookie))
	if err != nil || len(c.Value) > 2048 {
		return p, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return p, false
	}
	plain, err := h.Seal.Open(sealed, accountSignInAAD())
	if err != nil || json.Unmarshal(plain, &p) != nil || p.State == "" || h.Now().Unix() >= p.Expires {
		return p, false
	}
	return p, true
}
