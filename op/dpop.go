package op

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file holds DPoP, RFC 9449: access tokens bound to a key the
// client holds, which it proves with a signed JWT (the proof) in the DPoP
// header of each request.
//
// At the token endpoint a valid proof binds the access token issued to the
// proof's key: its record keeps the key's thumbprint (RFC 7638), a JWT
// access token carries it as cnf.jkt, the answer's token_type is DPoP and
// introspection reports both. A public client's refresh token is bound to
// the key too (§5): refreshing takes a proof of the same key. A client
// registered with dpop_bound_access_tokens must send a proof (§5.2).
//
// At userinfo, Gatehouse's protected resource, a bound token is accepted
// only with the DPoP scheme and a proof of its key for that request (§7),
// never as a bearer token; a token that is not bound is refused with the
// DPoP scheme, since the proof it comes with proves nothing.
//
// Each proof is accepted once: its jti is recorded in the database for as
// long as its iat is accepted (Store.UseJTI), so a proof replayed at any
// replica fails. Server-provided nonces (§8) are not offered.

// DPoPAlgorithms are the JWS algorithms of the DPoP proofs Gatehouse
// accepts, as discovery advertises them (dpop_signing_alg_values_supported):
// asymmetric ones only (RFC 9449 §4.2).
var DPoPAlgorithms = []string{
	string(jose.ES256), string(jose.ES384), string(jose.ES512),
	string(jose.RS256), string(jose.RS384), string(jose.RS512),
	string(jose.PS256), string(jose.PS384), string(jose.PS512),
	string(jose.EdDSA),
}

var dpopJOSEAlgorithms = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(DPoPAlgorithms))
	for i, a := range DPoPAlgorithms {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// dpopChallengeAlgs is the algs parameter of the DPoP challenge (§7.1).
var dpopChallengeAlgs = `algs="` + strings.Join(DPoPAlgorithms, " ") + `"`

// DPoPProofWindow is how far a proof's iat may lie from the server's
// clock, either way; its jti is remembered that long after its iat.
const DPoPProofWindow = 60 * time.Second

// dpopProofType is the typ header of a proof (§4.2).
const dpopProofType = "dpop+jwt"

// maxDPoPProofSize bounds the proofs parsed: a proof is a JWT with one
// public key in its header, a few kilobytes for the largest RSA keys.
const maxDPoPProofSize = 8 << 10

// dpopProof is what a verified proof says.
type dpopProof struct {
	jkt string    // the RFC 7638 SHA-256 thumbprint of its key, base64url
	jti string    // its unique identifier
	iat time.Time // when it was made
}

// dpopClaims are the claims of a proof (§4.2).
type dpopClaims struct {
	ID       string      `json:"jti"`
	Method   string      `json:"htm"`
	URI      string      `json:"htu"`
	IssuedAt json.Number `json:"iat"`
	ATHash   string      `json:"ath"`
}

// errDPoP is the error of every invalid proof; the wrapped detail says why.
var errDPoP = errors.New("invalid DPoP proof")

func dpopErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errDPoP, fmt.Sprintf(format, args...))
}

// verifyDPoPProof checks a proof as RFC 9449 §4.3 asks, all but the
// uniqueness of its jti: a JWT with typ dpop+jwt, an asymmetric algorithm
// and a public JWK in its header, whose signature that key verifies, made
// for a request with method htm to htu (query and fragment ignored),
// within DPoPProofWindow of now, with a jti, and, when accessToken is not
// "", with ath the hash of that token.
func verifyDPoPProof(proof, htm, htu, accessToken string, now time.Time) (*dpopProof, error) {
	if len(proof) > maxDPoPProofSize {
		return nil, dpopErrorf("the proof is too large")
	}
	jws, err := jose.ParseSignedCompact(proof, dpopJOSEAlgorithms)
	if err != nil {
		return nil, dpopErrorf("not a JWS signed with an accepted algorithm")
	}
	if len(jws.Signatures) != 1 {
		return nil, dpopErrorf("the proof must have one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != dpopProofType {
		return nil, dpopErrorf("typ must be %s", dpopProofType)
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return nil, dpopErrorf("the header must carry the public key (jwk) that signed the proof")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, dpopErrorf("the signature does not verify with the header's key")
	}
	var c dpopClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, dpopErrorf("the claims are not a JSON object of the proof's claims")
	}
	if c.ID == "" || len(c.ID) > 512 {
		return nil, dpopErrorf("jti is missing or too long")
	}
	if c.Method != htm {
		return nil, dpopErrorf("htm does not match the request's method")
	}
	if !sameHTU(c.URI, htu) {
		return nil, dpopErrorf("htu does not match the request's URI")
	}
	iat, err := c.IssuedAt.Float64()
	if err != nil || c.IssuedAt == "" {
		return nil, dpopErrorf("iat is missing")
	}
	issued := time.Unix(int64(iat), 0)
	if issued.Before(now.Add(-DPoPProofWindow)) || issued.After(now.Add(DPoPProofWindow)) {
		return nil, dpopErrorf("iat is not within %s of the server's time", DPoPProofWindow)
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(c.ATHash), []byte(want)) != 1 {
			return nil, dpopErrorf("ath does not match the access token")
		}
	}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, dpopErrorf("no thumbprint of the key")
	}
	return &dpopProof{jkt: base64.RawURLEncoding.EncodeToString(thumb), jti: c.ID, iat: issued}, nil
}

// sameHTU reports whether a proof's htu names the endpoint want, ignoring
// its query and fragment (§4.3), and the case of the scheme and host.
func sameHTU(htu, want string) bool {
	u, err := url.Parse(htu)
	if err != nil || !u.IsAbs() {
		return false
	}
	w, err := url.Parse(want)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, w.Scheme) && strings.EqualFold(u.Host, w.Host) && u.EscapedPath() == w.EscapedPath()
}

// useDPoPProof records the proof's jti as used, for as long as the proof
// would be accepted, on every replica: storage.ErrReplayed if it was used
// before.
func (p *Provider) useDPoPProof(ctx context.Context, proof *dpopProof) error {
	sum := sha256.Sum256([]byte(proof.jkt + "\x00" + proof.jti))
	key := "dpop:" + hex.EncodeToString(sum[:])
	err := p.storage.store.UseJTI(ctx, key, proof.iat.Add(DPoPProofWindow+time.Second), p.storage.now())
	return fault(ctx, err)
}

// errProofUnchecked means that the proof's jti could not be recorded: the
// database failed, and the request is refused as temporarily unavailable.
var errProofUnchecked = errors.New("the DPoP proof could not be checked")

// acceptProof checks the one DPoP proof of a request with method htm to
// htu (and, unless "", for accessToken) as RFC 9449 §4.3 asks, and records
// its jti as used on every replica. A missing, doubled, invalid or
// replayed proof gives an invalid_dpop_proof *oidc.Error; a failure to
// record the jti, errProofUnchecked. endpoint names the endpoint in logs.
func (p *Provider) acceptProof(ctx context.Context, proofs []string, htm, htu, accessToken, endpoint string) (*dpopProof, error) {
	if len(proofs) != 1 {
		return nil, dpopProofError("send exactly one DPoP header")
	}
	proof, err := verifyDPoPProof(proofs[0], htm, htu, accessToken, p.storage.now())
	if err != nil {
		slog.InfoContext(ctx, "DPoP proof refused", "endpoint", endpoint, "err", err)
		return nil, dpopProofError(err.Error())
	}
	if err := p.useDPoPProof(ctx, proof); err != nil {
		if !errors.Is(err, storage.ErrReplayed) {
			return nil, errProofUnchecked
		}
		slog.WarnContext(ctx, "DPoP proof replayed", "endpoint", endpoint)
		return nil, dpopProofError("the DPoP proof was used before")
	}
	return proof, nil
}

// refuseProof answers a request whose proof acceptProof refused with
// err: invalid_dpop_proof through refuse, or temporarily_unavailable when
// the database failed.
func refuseProof(w http.ResponseWriter, err error, refuse func(w http.ResponseWriter, code, description string)) {
	var oe *oidc.Error
	if errors.As(err, &oe) {
		refuse(w, "invalid_dpop_proof", oe.Description)
		return
	}
	writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", UnavailableDescription)
}

// endpointURL is the URL of the provider's endpoint at path, as a proof's
// htu names it.
func (p *Provider) endpointURL(path string) string {
	return strings.TrimSuffix(p.issuer(), "/") + path
}

// dpopKey carries the thumbprint of the key a token request proved: the
// access token (and a public client's refresh token) issued is bound to it.
type dpopKey struct{}

// dpopKeyFrom returns the thumbprint that the token request in ctx proved,
// or "".
func dpopKeyFrom(ctx context.Context) string {
	jkt, _ := ctx.Value(dpopKey{}).(string)
	return jkt
}

// refreshBinding returns the thumbprint a refresh token of clientID issued
// in ctx is bound to: the proved key for a public client (§5), nothing for
// a confidential one, whose refresh tokens its credentials bind already.
func (s *Storage) refreshBinding(ctx context.Context, clientID string) string {
	jkt := dpopKeyFrom(ctx)
	if jkt == "" {
		return ""
	}
	if c, err := s.store.ClientByID(ctx, clientID); err != nil || !c.Public {
		return ""
	}
	return jkt
}

// checkRefreshBinding refuses a refresh token bound to a key the request
// did not prove.
func checkRefreshBinding(ctx context.Context, t *storage.RefreshToken) error {
	if t.DPoPJKT != "" && t.DPoPJKT != dpopKeyFrom(ctx) {
		slog.WarnContext(ctx, "refresh token presented without a DPoP proof of its key", "family", t.FamilyID, "client_id", t.ClientID)
		return errors.New("the refresh token is bound to a DPoP key the request did not prove")
	}
	return nil
}

// authorizeJKTKey carries the dpop_jkt parameter of an authorization
// request.
type authorizeJKTKey struct{}

// authorizeJKT returns the dpop_jkt of the authorization request in ctx:
// "" when it has none, an error when it is not a SHA-256 thumbprint.
func authorizeJKT(ctx context.Context) (string, error) {
	jkt, _ := ctx.Value(authorizeJKTKey{}).(string)
	if jkt == "" {
		return "", nil
	}
	if !isThumbprint(jkt) {
		return "", errBadJKT
	}
	return jkt, nil
}

var errBadJKT = oidc.ErrInvalidRequest().WithDescription("dpop_jkt must be the base64url SHA-256 thumbprint of a JWK (RFC 7638)")

// isThumbprint reports whether jkt has the form of a JWK SHA-256
// thumbprint (RFC 7638) in base64url.
func isThumbprint(jkt string) bool {
	b, err := base64.RawURLEncoding.DecodeString(jkt)
	return err == nil && len(b) == sha256.Size
}

// pushedDPoPKey checks the DPoP proof of a pushed authorization request
// (RFC 9449 §10.1) and returns the thumbprint its code is to be bound to:
// the proof's key, else the request's dpop_jkt, else "". A proof must be
// valid and unused, made for the PAR endpoint, and a dpop_jkt beside it
// must name its key.
func (p *Provider) pushedDPoPKey(r *http.Request, form url.Values) (string, error) {
	jkt := form.Get("dpop_jkt")
	if jkt != "" && !isThumbprint(jkt) {
		return "", errBadJKT
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) == 0 {
		return jkt, nil
	}
	proof, err := p.acceptProof(r.Context(), proofs, http.MethodPost, p.endpointURL(PushedAuthorizationPath), "", "par")
	if err != nil {
		return "", err
	}
	// The proof is used up even when dpop_jkt then refuses the request: a
	// proof is good for one request, whatever its answer.
	if jkt != "" && jkt != proof.jkt {
		return "", dpopProofError("dpop_jkt does not name the key of the DPoP proof")
	}
	return proof.jkt, nil
}

// dpopProofError is the invalid_dpop_proof error of RFC 9449 §5.
func dpopProofError(description string) error {
	return &oidc.Error{ErrorType: "invalid_dpop_proof", Description: description}
}

// checkCodeBinding refuses the exchange of a code whose authorization
// request named a dpop_jkt without a proof of that key (§10).
func checkCodeBinding(ctx context.Context, ar *storage.AuthRequest) error {
	if ar.DPoPJKT != "" && ar.DPoPJKT != dpopKeyFrom(ctx) {
		slog.WarnContext(ctx, "authorization code bound to a DPoP key exchanged without a proof of it", "client_id", ar.ClientID)
		return errCodeUnbound
	}
	return nil
}

// errCodeUnbound refuses a code bound to a DPoP key that the exchange did
// not prove, before the code's use.
var errCodeUnbound = errors.New("the code is bound to a DPoP key the request did not prove")

// dpopConfirmation is the cnf claim of a bound token (§6.1).
type dpopConfirmation struct {
	JKT string `json:"jkt"`
}

// confirmation returns the cnf claim of a token bound to jkt, nil for a
// bearer token.
func confirmation(jkt string) *dpopConfirmation {
	if jkt == "" {
		return nil
	}
	return &dpopConfirmation{JKT: jkt}
}

// dpopUse is what the resource request in a context presented: the key a
// DPoP scheme's proof proved ("" for a bearer token), and whether the
// token was refused for being bound while presented as a bearer token.
type dpopUse struct {
	jkt           string
	boundAsBearer bool
}

type dpopUseKey struct{}

// checkAccessBinding refuses an access token presented the wrong way at
// the protected resource of ctx: a bound token without a proof of its key,
// or a token that is not bound with the DPoP scheme (§7.1, §7.2).
func checkAccessBinding(ctx context.Context, t *storage.AccessToken) error {
	use, _ := ctx.Value(dpopUseKey{}).(*dpopUse)
	proved := ""
	if use != nil {
		proved = use.jkt
	}
	switch {
	case proved == "" && t.DPoPJKT != "":
		if use != nil {
			use.boundAsBearer = true
		}
		return errors.New("a DPoP-bound access token presented as a bearer token")
	case proved != "" && t.DPoPJKT != proved:
		return errors.New("the DPoP proof is not of the access token's key")
	}
	return nil
}

// dpop verifies the DPoP proofs of token and userinfo requests.
func (p *Provider) dpop(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/oauth/token" && r.Method == http.MethodPost:
			p.dpopToken(w, r, next)
		case r.URL.Path == UserinfoPath:
			p.dpopResource(w, r, next)
		case r.URL.Path == "/authorize":
			// The dpop_jkt parameter (§10), for CreateAuthRequest;
			// zitadel parses the form again, and reports a bad one.
			if r.ParseForm() == nil && r.Form.Get("dpop_jkt") != "" {
				r = r.WithContext(context.WithValue(r.Context(), authorizeJKTKey{}, r.Form.Get("dpop_jkt")))
			}
			next.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// dpopToken binds the tokens of a token request with a valid proof, and
// refuses one with an invalid proof, or none from a client that must send
// one.
func (p *Provider) dpopToken(w http.ResponseWriter, r *http.Request, next http.Handler) {
	proofs := r.Header.Values("DPoP")
	switch len(proofs) {
	case 0:
		if c := p.tokenRequestClient(r); c != nil && c.DPoPBoundAccessTokens {
			writeTokenError(w, "invalid_dpop_proof", "this client's access tokens must be DPoP-bound: send a DPoP proof")
			return
		}
		next.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	proof, err := p.acceptProof(ctx, proofs, http.MethodPost, p.endpointURL("/oauth/token"), "", "token")
	if err != nil {
		refuseProof(w, err, writeTokenError)
		return
	}
	bw := &BufferedWriter{ResponseWriter: w}
	next.ServeHTTP(bw, r.WithContext(context.WithValue(ctx, dpopKey{}, proof.jkt)))
	bw.send(func(body []byte) []byte { return withTokenType(body, "DPoP") })
}

// tokenRequestClient returns the client a token request names (HTTP Basic
// or client_id), nil when it names none or an unknown one.
func (p *Provider) tokenRequestClient(r *http.Request) *storage.Client {
	id, _, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
	} else if r.ParseForm() == nil {
		id = r.PostForm.Get("client_id")
	}
	if id == "" {
		return nil
	}
	c, err := p.storage.store.ClientByID(r.Context(), id)
	if err != nil {
		return nil
	}
	return c
}

// withTokenType returns the token response body with token_type typ.
func withTokenType(body []byte, typ string) []byte {
	var resp map[string]json.RawMessage
	if json.Unmarshal(body, &resp) != nil {
		return body
	}
	if _, ok := resp["access_token"]; !ok {
		return body
	}
	resp["token_type"], _ = json.Marshal(typ)
	out, err := json.Marshal(resp)
	if err != nil {
		return body
	}
	return append(out, '\n')
}

// writeTokenError answers a token request with a 400 OAuth error.
func writeTokenError(w http.ResponseWriter, code, description string) {
	writeJSONError(w, http.StatusBadRequest, code, description)
}

func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	b, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// dpopResource checks the DPoP scheme at userinfo: a valid proof for this
// request and the presented token, whose key the token's record must then
// name (checkAccessBinding). Its refusals, and every 401 of the endpoint,
// carry a DPoP challenge with the accepted algorithms (§7.1).
func (p *Provider) dpopResource(w http.ResponseWriter, r *http.Request, next http.Handler) {
	ctx := r.Context()
	use := &dpopUse{}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if strings.EqualFold(scheme, "DPoP") {
		if token == "" {
			writeDPoPChallenge(w, "invalid_dpop_proof", "send the access token with exactly one DPoP proof")
			return
		}
		proof, err := p.acceptProof(ctx, r.Header.Values("DPoP"), r.Method, p.endpointURL(r.URL.Path), token, "userinfo")
		if err != nil {
			refuseProof(w, err, writeDPoPChallenge)
			return
		}
		use.jkt = proof.jkt
		// zitadel reads bearer tokens only.
		r = r.Clone(ctx)
		r.Header.Set("Authorization", oidc.PrefixBearer+token)
	}
	next.ServeHTTP(&dpopChallengeWriter{ResponseWriter: w, use: use}, r.WithContext(context.WithValue(ctx, dpopUseKey{}, use)))
}

// writeDPoPChallenge refuses a protected resource request with 401 and a
// DPoP challenge naming the error (§7.1).
func writeDPoPChallenge(w http.ResponseWriter, code, description string) {
	w.Header().Set("WWW-Authenticate", dpopChallenge(code, description))
	writeJSONError(w, http.StatusUnauthorized, code, description)
}

// dpopChallenge is the value of a DPoP challenge with the error code (none
// when "") and description.
func dpopChallenge(code, description string) string {
	if code == "" {
		return "DPoP " + dpopChallengeAlgs
	}
	q := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `DPoP error="` + code + `", error_description="` + q.Replace(description) + `", ` + dpopChallengeAlgs
}

// dpopChallengeWriter adds a DPoP challenge to the 401 of a protected
// resource: the only one when the request used the DPoP scheme, beside
// the Bearer challenge otherwise, naming invalid_token when a bound token
// was presented as a bearer token.
type dpopChallengeWriter struct {
	http.ResponseWriter
	use   *dpopUse
	wrote bool
}

func (w *dpopChallengeWriter) WriteHeader(code int) {
	if !w.wrote && code == http.StatusUnauthorized {
		h := w.Header()
		switch {
		case w.use.jkt != "":
			h.Set("WWW-Authenticate", dpopChallenge("invalid_token", "the access token is invalid, expired, revoked or not bound to the proof's key"))
		case w.use.boundAsBearer:
			h.Add("WWW-Authenticate", dpopChallenge("invalid_token", "the access token is DPoP-bound: present it with the DPoP scheme and a proof"))
		default:
			h.Add("WWW-Authenticate", dpopChallenge("", ""))
		}
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *dpopChallengeWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *dpopChallengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
