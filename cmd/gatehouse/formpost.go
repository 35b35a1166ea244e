package main

import (
	"net/url"

	"github.com/gatehouse-idp/gatehouse/op"
)

// screenResponseMode returns the error of an authorization request (in
// form) whose response_mode Gatehouse does not offer, or nil. The code
// flow's responses come in the query (the default) or, with form_post, as
// a form POSTed to the redirect_uri (op/formpost.go). The fragment, which
// OAuth 2.0 Multiple Response Types allows for code too, is refused: a
// code in the fragment reaches scripts of the redirect_uri's page, and no
// relying party needs it.
func screenResponseMode(form url.Values) *authorizeError {
	switch m := form.Get("response_mode"); m {
	case "", "query", op.ResponseModeFormPost:
		return nil
	case "fragment":
		return &authorizeError{"invalid_request", "response_mode fragment is not supported (use query or form_post)"}
	default:
		if !parameterName.MatchString(m) {
			return &authorizeError{"invalid_request", "the response_mode is not supported (use query or form_post)"}
		}
		return &authorizeError{"invalid_request", "response_mode " + m + " is not supported (use query or form_post)"}
	}
}
