package op

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file is the pushed authorization request endpoint (RFC 9126): a
// client POSTs the parameters of an authorization request, authenticated
// as at the token endpoint, and gets a request_uri to send the browser to
// /authorize with, instead of the parameters. The parameters are checked
// as /authorize would check them, and kept under the hash of the
// request_uri's random part for PushedRequestTTL; /authorize uses them
// once (UsePushedRequest).

// PushedAuthorizationPath is the pushed authorization request endpoint.
const PushedAuthorizationPath = "/oauth/par"

// RequestURIPrefix starts every request_uri the endpoint hands out
// (RFC 9126 §2.2).
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// PushedRequestTTL is how long a request_uri may be used: long enough for
// the client to send the browser to /authorize, short enough that a
// request_uri that leaks is of little use (RFC 9126 §7.3).
const PushedRequestTTL = 60 * time.Second

// The errors of UsePushedRequest.
var (
	ErrRequestURIUnknown = errors.New("op: request_uri unknown")
	ErrRequestURIUsed    = errors.New("op: request_uri already used")
	ErrRequestURIExpired = errors.New("op: request_uri expired")
)

// credentialParameters are the parameters of client authentication, which
// are not part of the authorization request and are never stored.
var credentialParameters = []string{"client_secret", "client_assertion", "client_assertion_type"}

// PushedAuthorization returns the handler of PushedAuthorizationPath. Its
// answers are JSON, never stored by caches, and carry no CORS headers: the
// endpoint is for the client's back end, not for browsers.
func (p *Provider) PushedAuthorization() http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			p.pushError(w, r, http.StatusMethodNotAllowed, oidc.ErrInvalidRequest().WithDescription("this endpoint accepts POST requests only"))
			return
		}
		if err := r.ParseForm(); err != nil {
			p.pushError(w, r, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("the request body cannot be read"))
			return
		}
		ctx := r.Context()
		c, err := p.pushingClient(r)
		if err != nil {
			p.pushError(w, r, 0, err)
			return
		}
		if c.Public && p.storage.cfg.PublicPushLimit != nil {
			// Each push is counted, refused or not, before it is checked
			// and stored.
			wait, err := p.storage.cfg.PublicPushLimit(r)
			if err != nil {
				fault(ctx, fmt.Errorf("count pushed request: %w", err))
				p.pushError(w, r, 0, oidc.ErrServerError().WithDescription("the request could not be counted"))
				return
			}
			if wait > 0 {
				// RFC 9126 §2.3: 429 for a sender of too many requests.
				slog.InfoContext(ctx, "pushed authorization request refused: too many from this address", "client_id", c.ID)
				w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
				p.pushError(w, r, http.StatusTooManyRequests, &oidc.Error{ErrorType: "temporarily_unavailable",
					Description: "too many pushed requests from this address; try again later"})
				return
			}
		}
		form := r.PostForm
		OmitEmptyParameters(form)
		if e := p.validatePushed(ctx, c, form); e != nil {
			slog.InfoContext(ctx, "pushed authorization request refused", "client_id", c.ID, "error", e.ErrorType, "description", e.Description)
			p.pushError(w, r, 0, e)
			return
		}
		// A DPoP proof binds the code as dpop_jkt would (RFC 9449 §10.1).
		jkt, err := p.pushedDPoPKey(r, form)
		if err != nil {
			p.pushError(w, r, 0, err)
			return
		}
		params := url.Values{}
		for name, v := range form {
			params[name] = v
		}
		for _, name := range credentialParameters {
			params.Del(name)
		}
		if jkt != "" {
			params.Set("dpop_jkt", jkt)
		}
		params.Set("client_id", c.ID)
		random := randomID(32)
		now := p.storage.now()
		err = p.storage.store.CreatePushedRequest(ctx, &storage.PushedRequest{
			Hash: hashSecret(random), ClientID: c.ID, Params: params.Encode(),
			CreatedAt: now, ExpiresAt: now.Add(PushedRequestTTL),
		})
		if err != nil {
			fault(ctx, fmt.Errorf("create pushed request: %w", err))
			p.pushError(w, r, 0, oidc.ErrServerError().WithDescription("the request could not be stored"))
			return
		}
		slog.InfoContext(ctx, "pushed authorization request stored", "client_id", c.ID)
		body, _ := json.Marshal(struct {
			RequestURI string `json:"request_uri"`
			ExpiresIn  int    `json:"expires_in"`
		}{RequestURIPrefix + random, int(PushedRequestTTL / time.Second)})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(append(body, '\n'))
	})
	// The issuer in the context, for the id_token_hint's verification.
	return zop.NewIssuerInterceptor(p.zp.IssuerFromRequest).Handler(h)
}

// NoCodeGrant is the error_description of the unauthorized_client error
// that /authorize and the pushed authorization request endpoint answer to
// a client not allowed the authorization_code grant (RFC 6749 §4.1.2.1).
const NoCodeGrant = "the client is not allowed the authorization_code grant"

// OmitEmptyParameters deletes the values of form that are empty, and the
// parameters left without a value: an authorization request's parameter
// sent without a value is treated as omitted (RFC 6749 §3.1).
func OmitEmptyParameters(form url.Values) {
	for name, values := range form {
		if values = slices.DeleteFunc(values, func(v string) bool { return v == "" }); len(values) == 0 {
			delete(form, name)
		} else {
			form[name] = values
		}
	}
}

// pushingClient authenticates the client of a pushed authorization
// request exactly as the token endpoint does (clientauth.go): with the
// method it registered, one method per request; a public client names
// itself with client_id.
func (p *Provider) pushingClient(r *http.Request) (*storage.Client, error) {
	return p.storage.authenticateRequest(r)
}

// validatePushed checks the authorization request form that c pushed as
// /authorize checks a request: a client allowed the authorization code
// grant (unauthorized_client otherwise), each parameter once, no request_uri (RFC
// 9126 §2.1) and no request object (not supported), the code flow, a
// response mode Gatehouse offers, and then the provider's checks (the
// redirect_uri registered for c, prompt, scopes, PKCE, id_token_hint).
func (p *Provider) validatePushed(ctx context.Context, c *storage.Client, form url.Values) *oidc.Error {
	if !c.AllowsGrant(storage.GrantAuthorizationCode) {
		return oidc.ErrUnauthorizedClient().WithDescription(NoCodeGrant)
	}
	if name := RepeatedParameter(form); name != "" {
		return oidc.ErrInvalidRequest().WithDescription("the parameter %s is included more than once", name)
	}
	if form.Has("request_uri") {
		return oidc.ErrInvalidRequest().WithDescription("request_uri must not be pushed")
	}
	if form.Has("request") {
		return oidc.ErrRequestNotSupported().WithDescription("request objects are not supported")
	}
	switch rt := form.Get("response_type"); {
	case rt == "":
		return oidc.ErrInvalidRequest().WithDescription("response_type is missing")
	case rt != string(oidc.ResponseTypeCode):
		// zitadel has no constructor for this RFC 6749 §4.1.2.1 error.
		return &oidc.Error{ErrorType: "unsupported_response_type", Description: "only response_type code is supported"}
	}
	switch form.Get("response_mode") {
	case "", string(oidc.ResponseModeQuery), ResponseModeFormPost:
	default:
		return oidc.ErrInvalidRequest().WithDescription("the response_mode is not supported (use query or form_post)")
	}
	if form.Get("redirect_uri") == "" {
		return oidc.ErrInvalidRequest().WithDescription("redirect_uri is missing")
	}
	req := new(oidc.AuthRequest)
	if err := p.zp.Decoder().Decode(req, form); err != nil {
		return oidc.ErrInvalidRequest().WithDescription("the request's parameters cannot be read")
	}
	req.ClientID = c.ID
	if _, err := zop.ValidateAuthRequestClient(ctx, req, p.storage.zopClient(c), p.zp.IDTokenHintVerifier(ctx)); err != nil {
		return oidc.DefaultToServerError(err, err.Error())
	}
	return checkPKCE(req, c)
}

// checkPKCE applies Gatehouse's PKCE rules, those of CreateAuthRequest:
// S256 only, and required of public clients.
func checkPKCE(req *oidc.AuthRequest, c *storage.Client) *oidc.Error {
	switch {
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
	case req.CodeChallenge != "" && !s256Challenge(req.CodeChallenge):
		return oidc.ErrInvalidRequest().WithDescription("code_challenge must be a base64url SHA-256 (43 characters)")
	case req.CodeChallenge == "" && c.Public:
		return oidc.ErrInvalidRequest().WithDescription("PKCE (S256) is required for public clients")
	}
	return nil
}

// pushError answers the pushed authorization request r with err as an
// OAuth error (RFC 6749 §5.2, RFC 9126 §2.3): status, or the one its type
// calls for when status is 0.
func (p *Provider) pushError(w http.ResponseWriter, r *http.Request, status int, err error) {
	e := oidc.DefaultToServerError(err, "server error")
	if status == 0 {
		switch e.ErrorType {
		case oidc.InvalidClient:
			status = http.StatusUnauthorized
			if BasicScheme(r) {
				w.Header().Set("WWW-Authenticate", `Basic realm="`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p.issuer())+`"`)
			}
		case oidc.ServerError:
			status = http.StatusInternalServerError
		default:
			status = http.StatusBadRequest
		}
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{string(e.ErrorType), e.Description})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// UsePushedRequest returns the parameters that clientID pushed under
// requestURI, and marks them used: the first use of a live request_uri
// succeeds, on any replica. A request_uri that is unknown, or another
// client's, is ErrRequestURIUnknown; one used before is ErrRequestURIUsed
// and one past its lifetime ErrRequestURIExpired, each with the pushed
// parameters, so that the error can go to the request's redirect_uri.
func (p *Provider) UsePushedRequest(ctx context.Context, clientID, requestURI string) (url.Values, error) {
	random, ok := strings.CutPrefix(requestURI, RequestURIPrefix)
	if !ok || random == "" || len(random) > 128 {
		return nil, ErrRequestURIUnknown
	}
	now := p.storage.now()
	pr, err := p.storage.store.UsePushedRequest(ctx, hashSecret(random), clientID, now)
	var use error
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, ErrRequestURIUnknown
	case errors.Is(err, storage.ErrReplayed):
		use = ErrRequestURIUsed
	case err != nil:
		return nil, fault(ctx, fmt.Errorf("use pushed request: %w", err))
	case !now.Before(pr.ExpiresAt):
		use = ErrRequestURIExpired
	}
	params, err := url.ParseQuery(pr.Params)
	if err != nil {
		return nil, fmt.Errorf("pushed request of %s: %w", clientID, err)
	}
	return params, use
}
