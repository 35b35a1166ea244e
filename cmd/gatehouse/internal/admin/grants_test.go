package admin

import (
	"slices"
	"strings"
	"testing"
)

func TestCheckGrantTypes(t *testing.T) {
	for _, tt := range []struct {
		grants []string
		public bool
		want   []string
		err    string // in the error; "" for none
	}{
		{[]string{"authorization_code"}, false, []string{"authorization_code"}, ""},
		{[]string{"client_credentials", "refresh_token", "authorization_code", "client_credentials"}, false,
			[]string{"authorization_code", "refresh_token", "client_credentials"}, ""},
		{[]string{"client_credentials"}, false, []string{"client_credentials"}, ""},
		{[]string{"authorization_code", "refresh_token"}, true, []string{"authorization_code", "refresh_token"}, ""},
		{[]string{"authorization_code", "client_credentials"}, true, nil, "a public client cannot use the client_credentials grant"},
		{[]string{"client_credentials"}, true, nil, "a public client cannot use the client_credentials grant"},
		{[]string{"refresh_token"}, false, nil, "refresh_token grant needs authorization_code"},
		{[]string{"implicit"}, false, nil, `grant type "implicit": must be authorization_code, refresh_token or client_credentials`},
		{[]string{"urn:ietf:params:oauth:grant-type:jwt-bearer"}, false, nil, "must be authorization_code"},
		{[]string{}, false, nil, "give at least one"},
	} {
		got, err := CheckGrantTypes(tt.grants, tt.public)
		switch {
		case tt.err == "" && (err != nil || !slices.Equal(got, tt.want)):
			t.Errorf("CheckGrantTypes(%q, public %v) = %q, %v; want %q", tt.grants, tt.public, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("CheckGrantTypes(%q, public %v) = %q, %v; want an error with %q", tt.grants, tt.public, got, err, tt.err)
		}
	}
}

func TestCreateGrantsDefaults(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec ClientSpec
		want []string
	}{
		{"web application", ClientSpec{RedirectURIs: []string{"https://a.example/cb"}}, []string{"authorization_code", "refresh_token"}},
		{"public application", ClientSpec{Public: true, RedirectURIs: []string{"https://a.example/cb"}}, []string{"authorization_code", "refresh_token"}},
		{"--grant client_credentials", ClientSpec{ClientCredentialsOnly: true}, []string{"client_credentials"}},
		{"admin client", ClientSpec{Admin: true}, []string{"client_credentials"}},
		{"admin client with a redirect URI", ClientSpec{Admin: true, RedirectURIs: []string{"https://a.example/cb"}},
			[]string{"authorization_code", "refresh_token", "client_credentials"}},
		{"named", ClientSpec{GrantTypes: []string{"client_credentials", "authorization_code"}}, []string{"authorization_code", "client_credentials"}},
	} {
		got, err := createGrants(tt.spec)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := createGrants(ClientSpec{ClientCredentialsOnly: true, GrantTypes: []string{"authorization_code"}}); err == nil {
		t.Error("--grant client_credentials with other grant types: no error")
	}
	if _, err := createGrants(ClientSpec{Admin: true, GrantTypes: []string{"authorization_code"}}); err == nil || !strings.Contains(err.Error(), "admin client needs the client_credentials grant") {
		t.Errorf("an admin client without client_credentials: %v", err)
	}
}
