package main

import (
	"flag"
	"net/http"
)

// flagSet reports whether the flag name was given on the command line, so
// that --consent=false differs from no --consent.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// clientConsent is the body of PUT /api/clients/{client_id}/consent.
type clientConsent struct {
	Consent *bool `json:"consent"`
}

// updateClientConsent is PUT /api/clients/{client_id}/consent: it makes
// the client a third-party one, whose users consent to its scopes, or a
// first-party one.
func (a *adminAPI) updateClientConsent(w http.ResponseWriter, r *http.Request, s *adminService) error {
	id, err := param(r, "client_id")
	if err != nil {
		return err
	}
	var body clientConsent
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Consent == nil {
		return badRequest("consent is required (true or false)")
	}
	c, err := s.SetClientConsent(r.Context(), id, *body.Consent)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
