package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestParseForm requires parseForm to leave a request as r.ParseForm
// does — the same parameters in PostForm and Form, an error where
// ParseForm has one — and to read the forms clients send in one piece.
func TestParseForm(t *testing.T) {
	t.Parallel()
	// A connection that breaks halfway through the body. (A server's body
	// ends at Content-Length: what follows is not read.)
	failing := func(body string) io.Reader {
		return io.MultiReader(strings.NewReader(body[:len(body)/2]), iotestErrReader{})
	}
	for _, tt := range []struct {
		name        string
		target      string
		contentType string
		body        string
		reader      func(string) io.Reader // nil: the body as it is
		quick       bool                   // read in one piece
		wantErr     bool
	}{
		{"a token", "/oauth/introspect", "application/x-www-form-urlencoded", "token=abc.def.ghi&token_type_hint=access_token", nil, true, false},
		{"repeated and empty", "/oauth/token", "application/x-www-form-urlencoded", "a=1&a=2&b=&c", nil, true, false},
		{"escapes", "/oauth/token", "application/x-www-form-urlencoded", "x=%41%2B+y&y=%E2%82%AC&%7A=1", nil, true, false},
		{"malformed escape", "/oauth/token", "application/x-www-form-urlencoded", "a=1&b=%zz&c=3", nil, true, true},
		{"semicolon", "/oauth/token", "application/x-www-form-urlencoded", "a=1;b=2&c=3", nil, true, true},
		{"body that fails", "/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", failing, true, true},
		{"a query too", "/oauth/token?a=0&q=1", "application/x-www-form-urlencoded", "a=1", nil, false, false},
		{"a charset", "/oauth/token", "application/x-www-form-urlencoded; charset=utf-8", "a=1", nil, false, false},
		{"JSON", "/oauth/token", "application/json", `{"a":1}`, nil, false, false},
		{"no type", "/oauth/token", "", "a=1", nil, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			request := func() *http.Request {
				var body io.Reader = strings.NewReader(tt.body)
				if tt.reader != nil {
					body = tt.reader(tt.body)
				}
				r := httptest.NewRequest(http.MethodPost, tt.target, body)
				r.ContentLength = int64(len(tt.body))
				if tt.contentType != "" {
					r.Header.Set("Content-Type", tt.contentType)
				}
				return r
			}
			got, want := request(), request()
			gotErr, wantErr := parseForm(got), want.ParseForm()
			if (gotErr != nil) != tt.wantErr || (wantErr != nil) != tt.wantErr {
				t.Errorf("errors: parseForm %v, ParseForm %v; want an error: %v", gotErr, wantErr, tt.wantErr)
			}
			if !reflect.DeepEqual(got.PostForm, want.PostForm) || !reflect.DeepEqual(got.Form, want.Form) {
				t.Errorf("parseForm: PostForm %v, Form %v\nParseForm: PostForm %v, Form %v", got.PostForm, got.Form, want.PostForm, want.Form)
			}
			// In one piece, Form is PostForm; ParseForm copies.
			same := reflect.ValueOf(got.Form).UnsafePointer() == reflect.ValueOf(got.PostForm).UnsafePointer()
			if tt.quick && !tt.wantErr && !same || !tt.quick && same {
				t.Errorf("read in one piece: %v, want %v", same, tt.quick)
			}
			// The handlers' own ParseForm then finds the form parsed.
			before := got.Form
			if err := got.ParseForm(); err != nil && gotErr == nil || !reflect.DeepEqual(got.Form, before) {
				t.Errorf("ParseForm after parseForm: %v, Form %v", err, got.Form)
			}
		})
	}
}

// TestParseQuery requires parseQuery to answer as url.ParseQuery.
func TestParseQuery(t *testing.T) {
	t.Parallel()
	for _, q := range []string{
		"", "&", "&&a=1&&", "a", "a=", "=", "=x&y", "a=b=c", "a=1&a=2&a=3&b",
		"token=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln&token_type_hint=access_token",
		"grant_type=authorization_code&code=abc-_~.123&redirect_uri=http://127.0.0.1:9/cb&code_verifier=v",
		"ü=ä&\x00=\xff", // raw bytes: ParseQuery does not check them
		"a=%41&b=c+d", "a=%zz&b=1", "a=1;b=2", "a=1&b=%", "+=+",
		strings.Repeat("a=1&", plainQueryMax-1) + "b=2", strings.Repeat("a&", plainQueryMax+1),
	} {
		got, gotErr := parseQuery(q)
		want, wantErr := url.ParseQuery(q)
		if !reflect.DeepEqual(got, want) || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("parseQuery(%.60q) = %v, %v; ParseQuery %v, %v", q, got, gotErr, want, wantErr)
		}
	}
}

// iotestErrReader fails every read, as a connection that breaks.
type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
