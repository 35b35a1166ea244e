package main

import (
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBrandEverywhere: with brand.name and brand.primary_color set, the
// pages, the emails and the authenticator app's issuer name the operator's
// product, and the pages load its colour; a colour without enough contrast
// keeps the server from starting (issue 18 §3).
func TestBrandEverywhere(t *testing.T) {
	t.Parallel()
	const name = "Axxon Datacenter"
	e := outboxStart(t, "GATEHOUSE_BRAND_NAME="+name, "GATEHOUSE_BRAND_PRIMARY_COLOR=#0b3d91",
		"GATEHOUSE_BRAND_SUPPORT_EMAIL=help@example.com")
	g := e.g
	u := e.newUser(t, "brand@example.com")

	// Pages: the sign-in page, the account area.
	b := e.session(t, u, "127.0.61.1")
	for _, path := range []string{"/account", "/account/security", "/recover"} {
		r := b.get(g.base + path)
		if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "· "+name+"</title>") ||
			!strings.Contains(r.body, `href="/brand.css"`) || !strings.Contains(r.body, "mailto:help@example.com") {
			t.Errorf("GET %s = %d, want the brand's title, stylesheet and support link:\n%s", path, r.StatusCode, r.body)
		}
		if strings.Contains(r.body, "Gatehouse") {
			t.Errorf("GET %s names Gatehouse", path)
		}
	}
	if r := b.get(g.base + "/brand.css"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "--accent: #0b3d91") {
		t.Errorf("GET /brand.css = %d:\n%s", r.StatusCode, r.body)
	}

	// The authenticator app's issuer.
	page := b.post(g.base+"/account/security/totp/enable", tfForm(t, e.security(t, b).body, "/account/security/totp/enable"))
	m := tfLinkRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no otpauth:// link:\n%s", page.body)
	}
	if link, err := url.Parse(html.UnescapeString(m[1])); err != nil || link.Query().Get("issuer") != name ||
		!strings.HasPrefix(link.Path, "/"+name+":") {
		t.Errorf("otpauth link %s (%v): want the issuer %q", m[1], err, name)
	}

	// Email: a password reset.
	n := len(outboxFiles(t, g.outbox))
	br := newBrowser(t).from("127.0.61.3")
	form := formFields(br.get(g.base + "/recover").body)
	form.Set("email", u.email)
	if resp := br.post(g.base+"/recover", form); resp.StatusCode >= 400 {
		t.Fatalf("POST /recover = %d:\n%s", resp.StatusCode, resp.body)
	}
	mail := outboxNext(t, g.outbox, n)
	if !strings.Contains(mail.subject, name) || !strings.Contains(mail.text, name) ||
		strings.Contains(mail.subject+mail.text+mail.html, "Gatehouse") {
		t.Errorf("the reset email should name %q, never Gatehouse: %q\n%s", name, mail.subject, mail.text)
	}

	// A colour that fails WCAG contrast is refused before anything runs.
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(slices.Clone(g.env), "GATEHOUSE_BRAND_PRIMARY_COLOR=#f0b400")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "brand.primary_color") || !strings.Contains(string(out), "1.87:1") {
		t.Errorf("serve with a 1.87:1 brand colour: %v\n%s", err, out)
	}
}

// TestTemplatesDir: a page template in brand.templates_dir replaces the
// built-in one, the others stay built in, and one that does not parse
// stops the server at start, naming the page.
func TestTemplatesDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	custom := `{{define "content"}}<h1>Signed out of Axxon</h1><p id="custom">{{t .Lang "Signed out"}}, {{brand.Name}}</p>{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "signedout.html"), []byte(custom), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGatehouse(t, "sqlite", "GATEHOUSE_BRAND_TEMPLATES_DIR="+dir)
	b := newBrowser(t)
	if r := b.get(g.base + "/signed-out"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `<p id="custom">Signed out, Gatehouse</p>`) {
		t.Errorf("GET /signed-out = %d, want the operator's page:\n%s", r.StatusCode, r.body)
	}
	if r := b.get(g.base + "/recover"); r.StatusCode != http.StatusOK || strings.Contains(r.body, `id="custom"`) || !strings.Contains(r.body, "<form") {
		t.Errorf("GET /recover = %d, want the built-in page:\n%s", r.StatusCode, r.body)
	}

	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "login.html"), []byte(`{{define "content"}}{{.Nope`), 0o600); err != nil {
		t.Fatal(err)
	}
	// A server of its own (another SQLite file: a second serve on g's would
	// be refused for that alone).
	other := newGatehouse(t, databaseURL(t, "sqlite"), "GATEHOUSE_BRAND_TEMPLATES_DIR="+broken)
	cmd := exec.Command(binary, "serve")
	cmd.Env = other.env
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "login.html") {
		t.Errorf("serve with a login.html that does not parse: %v\n%s", err, out)
	}
}
