package main

import (
	"net/http"
	"strings"
	"testing"
)

// showField returns the value of field in the output of clients show.
func showField(t *testing.T, g *gatehouse, id, field string) string {
	t.Helper()
	for line := range strings.SplitSeq(g.cli("", "clients", "show", id), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("clients show %s has no %q line", id, field)
	return ""
}

// TestClientSettingsTogether: one clients update (or one settings call)
// changes redirect URIs and several settings at once, and a refused value
// among them changes nothing at all.
func TestClientSettingsTogether(t *testing.T) {
	t.Parallel()
	g := startGatehouse(t, "sqlite")
	c := g.createClient("--name", "App", "--redirect-uri", "https://app.example.com/cb")
	state := func() [4]string {
		return [4]string{showField(t, g, c.ID, "redirect uris"), showField(t, g, c.ID, "consent"),
			showField(t, g, c.ID, "dpop-bound access tokens"), showField(t, g, c.ID, "require pushed authorization requests")}
	}
	before := state()

	for _, args := range [][]string{
		{"--redirect-uri", "https://app.example.com/cb#frag", "--consent=true", "--dpop=true"},
		{"--redirect-uri", "https://app.example.com/new", "--consent=true", "--backchannel-logout-uri", "http://app.example.com/bcl"},
		{"--consent=true", "--require-par=maybe"},
	} {
		if _, _, err := g.tryCLI("", append([]string{"clients", "update", c.ID}, args...)...); err == nil {
			t.Errorf("clients update %v succeeded", args)
		}
		if got := state(); got != before {
			t.Errorf("a refused clients update %v changed the client: %v, was %v", args, got, before)
		}
	}

	g.cli("", "clients", "update", c.ID, "--redirect-uri", "https://app.example.com/new", "--consent=true", "--dpop=true", "--require-par")
	if got, want := state(), [4]string{"https://app.example.com/new", "true", "true", "true"}; got != want {
		t.Errorf("after one clients update with URIs and three settings: %v, want %v", got, want)
	}

	// The admin API: a bad back-channel URI beside a good setting changes
	// neither.
	token := adminToken(t, g, g.createClient("--name", "Ops", "--admin"))
	r := adminCall(t, g, token, http.MethodPatch, "/api/clients/"+c.ID+"/settings", `{"consent":false,"backchannel_logout_uri":"http://app.example.com/bcl"}`)
	if r.status != http.StatusBadRequest {
		t.Errorf("PATCH settings with a bad back-channel URI = %d %s, want 400", r.status, r.body)
	}
	if got := showField(t, g, c.ID, "consent"); got != "true" {
		t.Errorf("a refused settings call changed consent to %s", got)
	}
	r = adminCall(t, g, token, http.MethodPatch, "/api/clients/"+c.ID+"/settings", `{"consent":false,"dpop_bound_access_tokens":false}`)
	if r.status != http.StatusOK || showField(t, g, c.ID, "consent") != "false" || showField(t, g, c.ID, "dpop-bound access tokens") != "false" {
		t.Errorf("PATCH settings with two settings = %d %s", r.status, r.body)
	}
}
