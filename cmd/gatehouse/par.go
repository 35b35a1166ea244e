package main

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-idp/gatehouse/login"
	"github.com/gatehouse-idp/gatehouse/op"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// This file is the front of /authorize for pushed authorization requests
// (RFC 9126, op/par.go):
//
//   - a request with client_id and a request_uri that the pushed
//     authorization request endpoint handed out goes on with the pushed
//     parameters instead of its own (RFC 9126 §4: the client_id must be
//     the pushing client's; other parameters of the front channel are
//     ignored); the request_uri is used up, on every replica;
//   - a request_uri that is unknown, another client's, used or expired is
//     invalid_request_uri: at the pushed request's redirect_uri when it is
//     known, else at the front channel's registered one, else on the page;
//   - a client that must push its requests (storage.Client.RequirePAR) is
//     refused a plain request: invalid_request;
//   - a client not allowed the authorization code grant
//     (storage.Client.GrantTypes) is refused any request:
//     unauthorized_client.
//
// Any other request_uri is authorize.go's (request_uri_not_supported).

// reasonRequestURI is the page's reason for a request_uri that cannot be
// used, when the error has no redirect_uri to go to (translated by the
// login's catalogue).
const reasonRequestURI = "This sign-in request has expired or is not valid. Please go back to the application and sign in again."

// pushedRequests answers /authorize for pushed requests, as above, and
// passes everything else to next.
func pushedRequests(lh *login.Handler, provider *op.Provider, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil {
			next.ServeHTTP(w, r) // the provider reports it
			return
		}
		uris, ids := r.Form["request_uri"], r.Form["client_id"]
		if len(uris) == 0 {
			if !refuseClient(lh, w, r, false) {
				next.ServeHTTP(w, r)
			}
			return
		}
		if len(uris) != 1 || !strings.HasPrefix(uris[0], op.RequestURIPrefix) || len(ids) != 1 || ids[0] == "" {
			next.ServeHTTP(w, r) // authorize.go refuses it
			return
		}
		ctx := r.Context()
		params, err := provider.UsePushedRequest(ctx, ids[0], uris[0])
		var e *authorizeError
		switch {
		case err == nil:
			lh.Logger.InfoContext(ctx, "authorize: pushed request used", "client_id", clipValue(ids[0]))
			pushed := withParameters(r, params)
			if !refuseClient(lh, w, pushed, true) {
				next.ServeHTTP(w, pushed)
			}
			return
		case errors.Is(err, op.ErrRequestURIUsed):
			e = &authorizeError{"invalid_request_uri", "the request_uri has been used already"}
		case errors.Is(err, op.ErrRequestURIExpired):
			e = &authorizeError{"invalid_request_uri", "the request_uri has expired"}
		case errors.Is(err, op.ErrRequestURIUnknown):
			e = &authorizeError{"invalid_request_uri", "the request_uri is not valid for this client"}
		default:
			lh.Logger.ErrorContext(ctx, "authorize: pushed request", "err", err)
			w.Header().Set("Retry-After", "5")
			lh.RenderError(w, r, http.StatusServiceUnavailable, reasonUnavailableTitle, reasonUnavailableDetail)
			return
		}
		lh.Logger.InfoContext(ctx, "authorize: request_uri refused", "client_id", clipValue(ids[0]), "description", e.description)
		if params != nil {
			// The pushed request's own redirect_uri, state and response
			// mode, checked again as every error's are.
			answerAuthorizeError(lh, w, withParameters(r, params), e)
			return
		}
		if !r.Form.Has("redirect_uri") {
			lh.RenderError(w, r, http.StatusBadRequest, pageTitle, reasonRequestURI)
			return
		}
		answerAuthorizeError(lh, w, r, e)
	})
}

// refuseClient answers an authorization request, pushed or not, of a
// client not allowed the authorization code grant with unauthorized_client
// (RFC 6749 §4.1.2.1), and a plain request of a client that must push its
// requests with invalid_request, and reports whether it did. A pushed
// request's client was checked when it pushed it, and again here: its
// grants may have changed since.
func refuseClient(lh *login.Handler, w http.ResponseWriter, r *http.Request, pushed bool) bool {
	ids := r.Form["client_id"]
	if len(ids) != 1 || ids[0] == "" {
		return false
	}
	ctx := r.Context()
	c, err := lh.Store.ClientByID(ctx, ids[0])
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false // the provider refuses the unknown client
	case err != nil:
		lh.Logger.ErrorContext(ctx, "authorize: load client", "err", err)
		w.Header().Set("Retry-After", "5")
		lh.RenderError(w, r, http.StatusServiceUnavailable, reasonUnavailableTitle, reasonUnavailableDetail)
		return true
	case c.Disabled:
		return false // the provider refuses it as unknown
	case !c.AllowsGrant(storage.GrantAuthorizationCode):
		answerAuthorizeError(lh, w, r, &authorizeError{"unauthorized_client", op.NoCodeGrant})
		return true
	case pushed || !c.RequirePAR:
		return false
	}
	answerAuthorizeError(lh, w, r, &authorizeError{"invalid_request", "pushed authorization request required"})
	return true
}

// withParameters returns r as a GET of /authorize with params, and nothing
// else, as its parameters.
func withParameters(r *http.Request, params url.Values) *http.Request {
	r = r.Clone(r.Context())
	r.Method = http.MethodGet
	r.URL.RawQuery = params.Encode()
	r.Form, r.PostForm = params, url.Values{}
	r.Body, r.ContentLength = http.NoBody, 0
	r.Header.Del("Content-Type")
	r.Header.Del("Content-Length")
	return r
}
