package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestGrantTypeFlag checks the --grant-type flag of clients create and
// clients update: repeatable and comma-separated, and an empty grant is
// refused with an error that says what to give, not skipped (skipped,
// --grant-type "" registered the default grants, which the operator did
// not name).
func TestGrantTypeFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string // nil: refused
	}{
		{[]string{"--grant-type", "authorization_code"}, []string{"authorization_code"}},
		{[]string{"--grant-type", "authorization_code, refresh_token"}, []string{"authorization_code", "refresh_token"}},
		{[]string{"--grant-type", "authorization_code", "--grant-type", "client_credentials"}, []string{"authorization_code", "client_credentials"}},
		{[]string{"--grant-type", ""}, nil},
		{[]string{"--grant-type", " "}, nil},
		{[]string{"--grant-type", ","}, nil},
		{[]string{"--grant-type", "authorization_code,"}, nil},
		{[]string{"--grant-type", "authorization_code,,refresh_token"}, nil},
	} {
		fs := flag.NewFlagSet("clients create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var grants grantTypeList
		fs.Var(&grants, "grant-type", "")
		err := fs.Parse(tc.args)
		switch {
		case tc.want == nil && err == nil:
			t.Errorf("%q: accepted as %q, want an error", tc.args, grants)
		case tc.want == nil && !strings.Contains(err.Error(), "empty grant type"):
			t.Errorf("%q: error %q does not name the empty grant type", tc.args, err)
		case tc.want != nil && (err != nil || !slices.Equal(grants, tc.want)):
			t.Errorf("%q = %q, %v; want %q", tc.args, grants, err, tc.want)
		}
	}
}
