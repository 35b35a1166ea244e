package admin

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/login/mail"
	"github.com/gatehouse-idp/gatehouse/login/password"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/seal"
	"github.com/go-chi/chi/v5"
)

// openAPISpec describes the admin API; GET /api/openapi.yaml serves it and
// a test keeps it in step with the routes.
//
//go:embed openapi.yaml
var openAPISpec []byte

// AccessTokens verifies access tokens issued by this Gatehouse (op.Provider
// does).
type AccessTokens interface {
	AccessToken(ctx context.Context, token string) (*storage.AccessToken, error)
}

// Deps are what the admin listener's handlers work with.
type Deps struct {
	Store  Store
	Logger *slog.Logger
	Tokens AccessTokens // verifies the admin API's bearer tokens (the provider)
	// Metrics serves GET /metrics; nil serves none.
	Metrics http.Handler
	// Passwords hashes the passwords of users the admin API creates: the
	// server's hasher, whose gate bounds every argon2id hash at once.
	Passwords *password.Hasher
	Now       func() time.Time // the server's clock
	// SealBox opens the secrets key, which seals client_secret_jwt
	// secrets; nil where there is none.
	SealBox func() (*seal.Box, error)
	// Pprof serves the runtime profiles (admin.pprof).
	Pprof bool
	// Mailer tells users by email what the API changed in their account
	// (Service.Mailer): the server's mailer.
	Mailer mail.Sender
}

// NewHandler returns the admin listener's handler (admin.address):
// metrics, the admin API and, with admin.pprof, profiles. It is never
// mounted on the public listener.
func NewHandler(d Deps) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("/api/", newAPI(d).routes())
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics)
	}
	if d.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// api is the admin API on the admin listener: JSON over Service for
// callers holding an access token with the gatehouse:admin scope,
// obtained with the client_credentials grant by an admin client.
type api struct {
	Deps
	mux *chi.Mux
}

// MaxAPIBody bounds a request body of the admin API.
const MaxAPIBody = 64 << 10

func newAPI(d Deps) *api { return &api{Deps: d} }

// callerKey carries the authenticated admin client's id.
type callerKey struct{}

// apiFunc handles one admin API request; a returned error becomes the JSON
// error response (see fail).
type apiFunc func(w http.ResponseWriter, r *http.Request, s *Service) error

// routes returns the API's router. Every route but the description needs a
// token with the admin scope.
func (a *api) routes() *chi.Mux {
	r := chi.NewRouter()
	a.mux = r
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API route: "+r.URL.Path+" (see GET /api/openapi.yaml)")
	})
	r.MethodNotAllowed(a.methodNotAllowed)
	r.Get("/api/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openAPISpec)
	})
	r.Group(func(r chi.Router) {
		r.Use(a.authenticate)
		a.clientRoutes(r)
		a.userRoutes(r)
		a.blockRoutes(r)
		a.auditRoutes(r)
	})
	return r
}

// methodNotAllowed answers 405 with the methods the route has.
func (a *api) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if a.mux.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allow = append(allow, m)
		}
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
		fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
}

// authenticate lets through requests bearing a live access token that was
// issued with the admin scope to a client that is still an admin client.
// No token is 401 with a Bearer challenge, and so is the token of a
// disabled client; a token without the scope 403.
func (a *api) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const realm = `Bearer realm="gatehouse-admin", scope="` + op.AdminScope + `"`
		auth := r.Header.Get("Authorization")
		scheme, token, _ := strings.Cut(auth, " ")
		token = strings.TrimSpace(token)
		if auth == "" {
			w.Header().Set("WWW-Authenticate", realm)
			writeError(w, http.StatusUnauthorized, "unauthorized",
				"an access token with the "+op.AdminScope+" scope is required: Authorization: Bearer <token> (client_credentials grant of an admin client)")
			return
		}
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", realm+`, error="invalid_request"`)
			writeError(w, http.StatusUnauthorized, "invalid_request", "the Authorization header must be: Bearer <token>")
			return
		}
		inactive := func() {
			w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
		}
		t, err := a.Tokens.AccessToken(r.Context(), token)
		if errors.Is(err, op.ErrInactiveToken) {
			inactive()
			return
		}
		if err != nil {
			a.Logger.ErrorContext(r.Context(), "admin api: verify token", "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the database is not available; try again")
			return
		}
		admin := t.GrantID == "" && t.Subject == t.ClientID && slices.Contains(t.Scopes, op.AdminScope)
		if admin {
			c, err := a.Store.ClientByID(r.Context(), t.ClientID)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				a.Logger.ErrorContext(r.Context(), "admin api: load client", "err", err)
				writeError(w, http.StatusServiceUnavailable, "unavailable", "the database is not available; try again")
				return
			}
			if err == nil && c.Disabled {
				// Disabling the client revoked its tokens, but not one
				// issued while it ran (or by an instance whose client
				// cache had not seen it yet): it is no token either.
				inactive()
				return
			}
			admin = err == nil && c.Admin
		}
		if !admin {
			a.Logger.WarnContext(r.Context(), "admin api: token without the admin scope refused", "client_id", t.ClientID, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", realm+`, error="insufficient_scope"`)
			writeError(w, http.StatusForbidden, "insufficient_scope", "the access token lacks the "+op.AdminScope+" scope")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, t.ClientID)))
	})
}

// handle runs f with a service acting as the calling admin client, and
// turns its error into a JSON error response.
func (a *api) handle(f apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		caller, _ := r.Context().Value(callerKey{}).(string)
		s := NewService(a.Store, a.Passwords, a.Now, "admin client "+caller+" (API)")
		s.Logger = a.Logger
		s.SealBox = a.SealBox
		s.Mailer = a.Mailer
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			s.IP = host
		}
		err := f(w, r, s)
		if err == nil {
			a.Logger.InfoContext(r.Context(), "admin api", "method", r.Method, "route", chi.RouteContext(r.Context()).RoutePattern(), "client_id", caller)
			return
		}
		a.fail(w, r, err)
	}
}

// listed is a handler that answers 200 with {key: [...]}, the list that
// list returns.
func listed[T any](key string, list func(*Service, context.Context) ([]T, error)) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, s *Service) error {
		l, err := list(s, r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{key: l})
		return nil
	}
}

// setTo turns set, a Service method that turns a flag of the resource
// named by a path parameter on or off, into the onParam function of one of
// the two routes: POST …/disable and …/enable, PUT and DELETE …/admin.
func setTo[T any](set func(*Service, context.Context, string, bool) (T, error), on bool) func(*Service, context.Context, string) (T, error) {
	return func(s *Service, ctx context.Context, ref string) (T, error) {
		return set(s, ctx, ref, on)
	}
}

// onParam is a handler that answers 200 with what do returns for the path
// parameter name.
func onParam[T any](name string, do func(*Service, context.Context, string) (T, error)) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, s *Service) error {
		v, err := param(r, name)
		if err != nil {
			return err
		}
		out, err := do(s, r.Context(), v)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// withBody is onParam for a request with a JSON body, which do gets too.
func withBody[B, T any](name string, do func(*Service, context.Context, string, B) (T, error)) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, s *Service) error {
		return onParam(name, func(s *Service, ctx context.Context, v string) (T, error) {
			var body B
			if err := decodeJSON(w, r, &body); err != nil {
				var zero T
				return zero, err
			}
			return do(s, ctx, v, body)
		})(w, r, s)
	}
}

// created answers 201 with v, the new member id of collection
// (/api/<collection>/<id>).
func created(w http.ResponseWriter, collection, id string, v any) error {
	w.Header().Set("Location", "/api/"+collection+"/"+url.PathEscape(id))
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// apiError is a refused HTTP request, before the service saw it.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: "invalid_request", msg: fmt.Sprintf(format, args...)}
}

// fail writes err as a JSON error: the caller's mistakes with their
// message, anything else as a generic 500 that is logged, never shown.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.code, ae.msg)
		return
	}
	switch KindOf(err) {
	case Invalid:
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
	case NotFound:
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case Conflict:
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case Refused:
		writeError(w, http.StatusUnprocessableEntity, "unprocessable", err.Error())
	default:
		a.Logger.ErrorContext(r.Context(), "admin api failed", "method", r.Method, "route", chi.RouteContext(r.Context()).RoutePattern(), "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "internal error; see the server log")
	}
}

// errorBody is the body of every error response.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // readable messages; the body is never HTML
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		body.Reset()
		body.WriteString(`{"error":"server_error","message":"internal error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body.Bytes())
}

// decodeJSON reads the request body, a single JSON object, into v. Unknown
// fields, trailing data, a wrong content type, oversized bodies and bodies
// that are not UTF-8 (which encoding/json would quietly mend with U+FFFD)
// are refused.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: "the request body must be JSON (Content-Type: application/json)"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large",
			msg: fmt.Sprintf("the request body is larger than %d bytes", MaxAPIBody)}
	}
	if err != nil {
		return badRequest("the request body could not be read")
	}
	if !utf8.Valid(body) {
		return badRequest("the request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("the request body is empty; a JSON object is required")
		}
		return badRequest("malformed JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return badRequest("malformed JSON body: data after the object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("malformed JSON body: data after the object")
	}
	// encoding/json takes the last of two members of one name (in any
	// case): {"email":"a","Email":"b"} would create b, where a proxy, a
	// log or a reviewer reading the first sees a.
	if k := duplicateKey(body); k != "" {
		return badRequest("malformed JSON body: %q appears twice in one object", k)
	}
	return nil
}

// duplicateKey returns a member name that appears twice, compared without
// case as encoding/json matches fields, in one object of the well-formed
// JSON data, or "".
func duplicateKey(data []byte) string {
	type level struct {
		keys      map[string]bool // nil in an array
		expectKey bool
	}
	var stack []*level
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.keys != nil {
					top.expectKey = true // the value ends; a name follows
				}
				l := &level{}
				if t == '{' {
					l.keys, l.expectKey = map[string]bool{}, true
				}
				stack = append(stack, l)
			default:
				stack = stack[:len(stack)-1]
			}
		default:
			if top == nil || top.keys == nil {
				continue
			}
			if !top.expectKey {
				top.expectKey = true // a value; a name follows
				continue
			}
			name, _ := t.(string)
			if folded := strings.ToLower(name); top.keys[folded] {
				return name
			} else {
				top.keys[folded] = true
			}
			top.expectKey = false
		}
	}
}

// param returns the path parameter name, decoded once. chi routes on the
// escaped path (URL.RawPath) when the request has one and on the decoded
// path otherwise: only the former's parameters are still escaped, and
// decoding the latter's again would read an escaped %2561 as a.
func param(r *http.Request, name string) (string, error) {
	v := chi.URLParam(r, name)
	if r.URL.RawPath != "" {
		var err error
		if v, err = url.PathUnescape(v); err != nil {
			v = ""
		}
	}
	if v == "" {
		return "", badRequest("bad %s in the path", name)
	}
	return v, nil
}
