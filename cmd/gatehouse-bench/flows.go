package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// redirectURI is the bench client's redirect URI. Nothing listens there:
// the bench stops at the redirect and reads the code from its URL.
const redirectURI = "http://127.0.0.1:9/cb"

// browser is one user agent: a cookie jar over a shared transport, not
// following redirects so that each hop is seen.
type browser struct {
	c *http.Client
}

func newBrowser(t http.RoundTripper) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{c: &http.Client{
		Jar:           jar,
		Transport:     t,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is a fully read response.
type page struct {
	status   int
	location string // absolute
	body     string
}

func (b *browser) do(req *http.Request) (*page, error) {
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	p := &page{status: resp.StatusCode, body: string(body)}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := resp.Request.URL.Parse(loc)
		if err != nil {
			return nil, fmt.Errorf("bad Location %q", loc)
		}
		p.location = u.String()
	}
	return p, nil
}

func (b *browser) get(ctx context.Context, u string) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

func (b *browser) post(ctx context.Context, u string, form url.Values) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// follow GETs u and its redirects until one points at the client's
// redirect URI (returned as at, with p nil) or a page answers.
func (b *browser) follow(ctx context.Context, u string) (p *page, at string, err error) {
	for range 10 {
		if strings.HasPrefix(u, redirectURI) {
			return nil, u, nil
		}
		p, err := b.get(ctx, u)
		if err != nil {
			return nil, u, err
		}
		if p.status < 300 || p.status >= 400 {
			return p, u, nil
		}
		u = p.location
	}
	return nil, u, fmt.Errorf("too many redirects")
}

var (
	formRE   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	linkRE   = regexp.MustCompile(`<a href="([^"]+)" id="otpauth">`)
	alertRE  = regexp.MustCompile(`(?s)<p class="alert" role="alert">(.*?)</p>`)
)

// form returns the hidden fields of the form of body posting to action.
func form(body, action string) (url.Values, error) {
	for _, m := range formRE.FindAllStringSubmatch(body, -1) {
		if html.UnescapeString(m[1]) == action {
			v := url.Values{}
			for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
				v.Set(h[1], html.UnescapeString(h[2]))
			}
			return v, nil
		}
	}
	return nil, fmt.Errorf("no form posting to %s on the page (alert %q)", action, alert(body))
}

func alert(body string) string {
	if m := alertRE.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(strings.TrimSpace(m[1]))
	}
	return ""
}

// flow is one authorization request of the bench client.
type flow struct {
	client                   client
	state, verifier, authURL string
}

func (s *site) newFlow(c client, scope string) *flow {
	f := &flow{client: c, state: rand.Text(), verifier: rand.Text() + rand.Text()}
	sum := sha256.Sum256([]byte(f.verifier))
	q := url.Values{
		"client_id":             {c.ID},
		"redirect_uri":          {redirectURI},
		"response_type":         {"code"},
		"scope":                 {scope},
		"state":                 {f.state},
		"nonce":                 {rand.Text()},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	f.authURL = s.base + "/authorize?" + q.Encode()
	return f
}

// codeFrom checks the redirect to the client and returns its code.
func (f *flow) codeFrom(redirect string) (string, error) {
	u, err := url.Parse(redirect)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if q.Get("state") != f.state || q.Get("code") == "" {
		return "", fmt.Errorf("redirect to the client without code or state: error %q", q.Get("error"))
	}
	return q.Get("code"), nil
}

// site is the server under test as the bench's clients see it.
type site struct {
	base string
	rp   client // confidential, code flow, RS256 ID tokens
}

// tokens is a token endpoint answer.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// token posts form to the token endpoint as c.
func (s *site) token(ctx context.Context, hc *http.Client, c client, form url.Values) (*tokens, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return nil, fmt.Errorf("token endpoint: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var t tokens
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	if t.AccessToken == "" {
		return nil, fmt.Errorf("token endpoint: no access_token")
	}
	return &t, nil
}

// exchange redeems the code of f.
func (s *site) exchange(ctx context.Context, hc *http.Client, f *flow, code string) (*tokens, error) {
	t, err := s.token(ctx, hc, f.client, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {f.verifier},
	})
	if err == nil && t.IDToken == "" {
		err = fmt.Errorf("code exchange without id_token")
	}
	return t, err
}

// passwordStep opens the login page of a new sign-in and submits email and
// password; it returns the page the password leads to and how long the
// password POST took.
func (s *site) passwordStep(ctx context.Context, b *browser, f *flow, email, pass string) (*page, time.Duration, error) {
	p, at, err := b.follow(ctx, f.authURL)
	if err != nil {
		return nil, 0, err
	}
	if p == nil || p.status != http.StatusOK {
		return nil, 0, fmt.Errorf("no login page (landed at %s)", at)
	}
	fields, err := form(p.body, "/login")
	if err != nil {
		return nil, 0, err
	}
	fields.Set("email", email)
	fields.Set("password", pass)
	t0 := time.Now()
	p, err = b.post(ctx, s.base+"/login", fields)
	d := time.Since(t0)
	if err != nil {
		return nil, d, err
	}
	if p.status == http.StatusServiceUnavailable {
		return nil, d, fmt.Errorf("%w: %q", errBusy, alert(p.body))
	}
	if p.status != http.StatusSeeOther {
		return nil, d, fmt.Errorf("password step: %d %q", p.status, alert(p.body))
	}
	return p, d, nil
}

// errBusy is the password step's 503: every argon2id slot stayed taken.
var errBusy = errors.New("password step: 503 busy")

// passwordSignIn signs a user without second factor in and returns the
// code.
func (s *site) passwordSignIn(ctx context.Context, b *browser, f *flow, email, pass string) (string, error) {
	p, _, err := s.passwordStep(ctx, b, f, email, pass)
	if err != nil {
		return "", err
	}
	p, at, err := b.follow(ctx, p.location)
	if err != nil {
		return "", err
	}
	if p != nil {
		return "", fmt.Errorf("after the password, landed on %s (%d %q)", at, p.status, alert(p.body))
	}
	return f.codeFrom(at)
}

// signInRetrying signs in with the password alone, trying again after a
// busy answer as a person would (setup only: the measured phases count
// busy answers as errors).
func (s *site) signInRetrying(ctx context.Context, b *browser, email, pass string) error {
	for attempt := 1; ; attempt++ {
		_, err := s.passwordSignIn(ctx, b, s.newFlow(s.rp, "openid"), email, pass)
		if !errors.Is(err, errBusy) || attempt == 10 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

// ssoCode runs an authorization request in a browser that holds a session
// and returns the code.
func (s *site) ssoCode(ctx context.Context, b *browser, c client, scope string) (*flow, string, error) {
	f := s.newFlow(c, scope)
	p, at, err := b.follow(ctx, f.authURL)
	if err != nil {
		return nil, "", err
	}
	if p != nil {
		return nil, "", fmt.Errorf("single sign-on stopped at %s (%d)", at, p.status)
	}
	code, err := f.codeFrom(at)
	return f, code, err
}

// totpUser is a user with an authenticator app.
type totpUser struct {
	email, pass, secret string
	last                int64 // the last time step used
	busy                bool
}

// code returns the app's code for time step.
func (u *totpUser) code(step int64) (string, error) {
	return totp.GenerateCodeCustom(u.secret, time.Unix(step*30, 0), totp.ValidateOpts{
		Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

// enrol signs u in with the password alone and turns the authenticator
// app on from /account/security, reading the secret from the page as a
// person would from the screen. It confirms with the code of the previous
// time step, which leaves the current and the next one for sign-ins.
func (s *site) enrol(ctx context.Context, b *browser, u *totpUser) error {
	if err := s.signInRetrying(ctx, b, u.email, u.pass); err != nil {
		return err
	}
	sec, err := b.get(ctx, s.base+"/account/security")
	if err != nil {
		return err
	}
	fields, err := form(sec.body, "/account/security/totp/enable")
	if err != nil {
		return err
	}
	p, err := b.post(ctx, s.base+"/account/security/totp/enable", fields)
	if err != nil {
		return err
	}
	m := linkRE.FindStringSubmatch(p.body)
	if m == nil {
		return fmt.Errorf("enrolment page without otpauth:// link (%d)", p.status)
	}
	link, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return err
	}
	u.secret = link.Query().Get("secret")
	confirm, err := form(p.body, "/account/security/totp/enable-confirm")
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		step := time.Now().Unix()/30 - 1 + int64(attempt)
		code, err := u.code(step)
		if err != nil {
			return err
		}
		confirm.Set("code", code)
		p, err = b.post(ctx, s.base+"/account/security/totp/enable-confirm", confirm)
		if err != nil {
			return err
		}
		if p.status < 400 {
			u.last = step
			return nil
		}
		if attempt == 1 {
			return fmt.Errorf("enable the authenticator app: %d %q", p.status, alert(p.body))
		}
	}
}

// userPool hands out TOTP users with a time step they have not used and
// the server still accepts, one sign-in per user at a time.
type userPool struct {
	mu    sync.Mutex
	users []*totpUser
	next  int
}

// take returns a user and the step to sign in with, or false if every
// user has used up the steps accepted now.
func (p *userPool) take() (*totpUser, int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := time.Now().Unix() / 30
	for range p.users {
		u := p.users[p.next]
		p.next = (p.next + 1) % len(p.users)
		if u.busy {
			continue
		}
		// cur and cur+1 stay valid across a step boundary during the
		// sign-in (the server accepts ±1 step).
		if s := max(cur, u.last+1); s <= cur+1 {
			u.last, u.busy = s, true
			return u, s, true
		}
	}
	return nil, 0, false
}

func (p *userPool) put(u *totpUser) {
	p.mu.Lock()
	u.busy = false
	p.mu.Unlock()
}

// fullSignIn runs a whole sign-in of a TOTP user in a fresh browser:
// authorize, password, code, redirect, token. It returns the password
// step's latency.
func (s *site) fullSignIn(ctx context.Context, t http.RoundTripper, pool *userPool) (time.Duration, error) {
	u, step, ok := pool.take()
	if !ok {
		return 0, errNoWork
	}
	defer pool.put(u)
	b := newBrowser(t)
	f := s.newFlow(s.rp, "openid email profile")
	p, pwd, err := s.passwordStep(ctx, b, f, u.email, u.pass)
	if err != nil {
		return pwd, err
	}
	if !strings.Contains(p.location, "/login/otp?") {
		return pwd, fmt.Errorf("the password step led to %s, not the code page", p.location)
	}
	p, err = b.get(ctx, p.location)
	if err != nil {
		return pwd, err
	}
	fields, err := form(p.body, "/login/otp")
	if err != nil {
		return pwd, err
	}
	code, err := u.code(step)
	if err != nil {
		return pwd, err
	}
	fields.Set("code", code)
	p, err = b.post(ctx, s.base+"/login/otp", fields)
	if err != nil {
		return pwd, err
	}
	if p.status != http.StatusSeeOther {
		return pwd, fmt.Errorf("code step: %d %q", p.status, alert(p.body))
	}
	p, at, err := b.follow(ctx, p.location)
	if err != nil {
		return pwd, err
	}
	if p != nil {
		return pwd, fmt.Errorf("after the code, landed on %s (%d)", at, p.status)
	}
	c, err := f.codeFrom(at)
	if err != nil {
		return pwd, err
	}
	_, err = s.exchange(ctx, b.c, f, c)
	return pwd, err
}
