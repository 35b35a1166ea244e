package login

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"html"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/login/i18n"
	"github.com/gatehouse-idp/gatehouse/login/password/policy"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/templates"
)

// pageTextFields are the page fields that hold English text the templates
// translate with t.
var pageTextFields = map[string]bool{"Title": true, "Message": true, "Info": true, "Error": true,
	"SwitchText": true, "AltText": true, "LinkText": true, "Button": true}

// textMaps are the package's tables of texts shown to users.
var textMaps = map[string]bool{"securityDone": true, "accountDone": true, "eventNames": true, "factorChangedText": true, "codeTexts": true, "adminChangeSubject": true, "adminChangeText": true}

// userTexts returns the English texts the package's Go code shows to users
// or emails them: the msg… constants, userError's title and message, the
// text fields of pages, the subjects and texts of security emails, the keys
// given to i18n.T and i18n.Tf, and the tables above.
func userTexts(t *testing.T) map[string]token.Position {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]token.Position{}
	consts := map[string]ast.Expr{}
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							consts[n.Name] = vs.Values[i]
						}
					}
				}
			}
		}
	}
	// str evaluates a string expression of literals, constants and +.
	var str func(e ast.Expr) (string, bool)
	str = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind != token.STRING {
				return "", false
			}
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				return str(v)
			}
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				a, ok1 := str(e.X)
				b, ok2 := str(e.Y)
				return a + b, ok1 && ok2
			}
		case *ast.ParenExpr:
			return str(e.X)
		}
		return "", false
	}
	add := func(e ast.Expr) {
		if s, ok := str(e); ok && s != "" {
			texts[s] = fset.Position(e.Pos())
		}
	}
	for name, v := range consts {
		if strings.HasPrefix(name, "msg") {
			add(v)
		}
	}
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				switch fn := n.Fun.(type) {
				case *ast.Ident:
					if fn.Name == "userError" && len(n.Args) == 3 {
						add(n.Args[1])
						add(n.Args[2])
					}
				case *ast.SelectorExpr:
					switch fn.Sel.Name {
					case "notify", "sendMail":
						if len(n.Args) == 4 {
							add(n.Args[2])
							add(n.Args[3])
						}
					case "T", "Tf":
						if x, ok := fn.X.(*ast.Ident); ok && x.Name == "i18n" && len(n.Args) >= 2 {
							add(n.Args[1])
						}
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && pageTextFields[k.Name] {
					add(n.Value)
				}
			case *ast.AssignStmt:
				if len(n.Lhs) == len(n.Rhs) {
					for i, l := range n.Lhs {
						switch l := l.(type) {
						case *ast.SelectorExpr:
							if pageTextFields[l.Sel.Name] {
								add(n.Rhs[i])
							}
						case *ast.IndexExpr: // securityDone["x"] = "…"
							if m, ok := l.X.(*ast.Ident); ok && textMaps[m.Name] {
								add(n.Rhs[i])
							}
						}
					}
				}
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if textMaps[name.Name] && i < len(n.Values) {
						ast.Inspect(n.Values[i], func(m ast.Node) bool {
							if kv, ok := m.(*ast.KeyValueExpr); ok {
								if _, nested := kv.Value.(*ast.CompositeLit); !nested {
									add(kv.Value)
								}
							}
							return true
						})
					}
				}
			}
			return true
		})
	}
	return texts
}

// TestGoTextsTranslated checks that every text the Go code shows or emails
// has a Russian translation.
func TestGoTextsTranslated(t *testing.T) {
	t.Parallel()
	texts := userTexts(t)
	for _, must := range []string{msgBadCredentials, msgBlocked, msgWrongCode, msgCodeSent, "Sign in",
		"Two-factor authentication changed", "Signed in", "Your Gatehouse code: %s", securityDone["webauthn-on"]} {
		if _, ok := texts[must]; !ok {
			t.Errorf("the scan of the Go code missed %q", must)
		}
	}
	for _, e := range []*policy.Error{policy.ErrTooShort, policy.ErrTooLong, policy.ErrCommon, policy.ErrBreached, policy.ErrUnchecked} {
		texts[e.Message] = token.Position{Filename: "login/password/policy"}
	}
	for s, pos := range texts {
		if !i18n.Has(i18n.Russian, s) {
			t.Errorf("%s: no Russian for %q", pos, s)
		}
	}
}

// tmplTextRE finds the literal texts the templates translate:
// {{t .Lang "…"}} and {{tf $.Lang "…" …}}.
var tmplTextRE = regexp.MustCompile(`\{\{-?\s*tf?\s+\$?\.Lang\s+("(?:[^"\\]|\\.)*")`)

// TestTemplateTextsTranslated checks that every literal text of the
// templates has a Russian translation, and that no visible English is
// left outside t.
func TestTemplateTextsTranslated(t *testing.T) {
	t.Parallel()
	names, err := filepath.Glob("../templates/*.html")
	if err != nil || len(names) == 0 {
		t.Fatalf("templates: %v %v", names, err)
	}
	tagRE := regexp.MustCompile(`(?s)<[^>]*>|\{\{.*?\}\}`)
	for _, name := range names {
		if filepath.Base(name) == "demo.html" {
			// The demo plays a relying party of its own (serve --demo),
			// not a Gatehouse page: it is in English only.
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tmplTextRE.FindAllStringSubmatch(string(b), -1) {
			s, err := strconv.Unquote(m[1])
			if err != nil {
				t.Errorf("%s: %s: %v", name, m[1], err)
				continue
			}
			if !i18n.Has(i18n.Russian, s) {
				t.Errorf("%s: no Russian for %q", name, s)
			}
		}
		// What remains between tags and actions must not be words.
		rest := tagRE.ReplaceAllString(string(b), " ")
		for _, w := range strings.Fields(rest) {
			if strings.IndexFunc(w, func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' }) >= 0 && w != "Gatehouse" {
				t.Errorf("%s: untranslated text %q", name, w)
			}
		}
	}
}

var switchRE = regexp.MustCompile(`<a href="(/lang\?[^"]*)"`)

// TestPagesRender renders every page in both languages with the real
// templates.
func TestPagesRender(t *testing.T) {
	t.Parallel()
	p, err := parsePages(templates.FS, Brand{}, "")
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{pages: p}
	now := time.Date(2026, time.May, 4, 9, 30, 0, 0, time.UTC)
	for _, lang := range i18n.Langs {
		for _, name := range pageNames {
			data := &selfPage{page: page{
				Title: "Sign in", Message: msgExpired, Info: "Your name was changed.", Error: msgBadCredentials,
				ClientName: "App", AuthRequestID: "ar1", User: &storage.User{Email: "a@example.com", Name: "A"},
				Sessions: []sessionView{{ID: "s1", Device: "Chrome", LastSeen: now, Current: true}, {ID: "s2", LastSeen: now}},
				Events:   []eventView{{Time: now, What: "Signed in", IP: "192.0.2.1"}},
				ShowForm: true, HasTOTP: true, RecoveryLeft: 3, Codes: []string{"abcde-fghij"},
				SwitchURL: "/x", SwitchText: "Use a recovery code", CancelURL: "/y", ResendAction: "/z",
			}, Factor: "totp", Button: "Confirm my email", LinkURL: "/l", LinkText: "Continue signing in"}
			r := httptest.NewRequest("GET", "/login?authRequestID=ar1&x=%3C%22", nil)
			r.Header.Set("Accept-Language", string(lang))
			r = h.withLang(r)
			w := httptest.NewRecorder()
			h.render(w, r, 200, name, data)
			body := w.Body.String()
			if w.Code != 200 {
				t.Fatalf("%s %s: %d %s", lang, name, w.Code, body)
			}
			if !strings.Contains(body, `<html lang="`+string(lang)+`">`) {
				t.Errorf("%s %s: no html lang", lang, name)
			}
			var to []string
			for _, m := range switchRE.FindAllStringSubmatch(body, -1) {
				u, err := url.Parse(html.UnescapeString(m[1]))
				if err != nil || u.Path != "/lang" || u.Query().Get("back") != "/login?authRequestID=ar1&x=%3C%22" {
					t.Errorf("%s %s: switcher link %q", lang, name, m[1])
					continue
				}
				to = append(to, u.Query().Get("to"))
			}
			if strings.Join(to, " ") != "en ru" {
				t.Errorf("%s %s: switcher to %v", lang, name, to)
			}
			if lang == i18n.Russian {
				for _, en := range []string{">Sign in<", msgBadCredentials, "Apply", "Your account", "left<"} {
					if strings.Contains(body, en) {
						t.Errorf("ru %s: English %q left:\n%s", name, en, body)
					}
				}
			}
			if name == "account.html" {
				want := map[i18n.Lang][]string{
					i18n.English: {"4 May 2026 09:30 UTC", "4 May 09:30 UTC", "Signed in"},
					i18n.Russian: {"4 мая 2026, 09:30 UTC", "4 мая, 09:30 UTC", "Вход", "с адреса 192.0.2.1"},
				}[lang]
				for _, s := range want {
					if !bytes.Contains(w.Body.Bytes(), []byte(s)) {
						t.Errorf("%s account.html lacks %q", lang, s)
					}
				}
			}
		}
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"/": true, "/login?authRequestID=x": true, "/account/security": true,
		"": false, "//evil.example": false, "/\\evil.example": false, "https://evil.example/": false,
		"evil": false, "/a\\b": false, "/a b": false, "/a\nb": false, "javascript:alert(1)": false,
		"/" + strings.Repeat("a", 3000): false,
	} {
		if got := localPath(s); got != want {
			t.Errorf("localPath(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestBackURL(t *testing.T) {
	t.Parallel()
	post := func(path string, form url.Values) string {
		r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.ParseForm()
		return backURL(r)
	}
	for _, c := range []struct{ got, want string }{
		{backURL(httptest.NewRequest("GET", "/login/otp?authRequestID=a&method=email", nil)), "/login/otp?authRequestID=a&method=email"},
		{post("/login", url.Values{"authRequestID": {"a"}, "password": {"secret"}}), "/login?authRequestID=a"},
		{post("/login/otp/resend", url.Values{"authRequestID": {"a"}, "method": {"email"}, "code": {"1"}}), "/login/otp?authRequestID=a&method=email"},
		{post("/login/enroll", url.Values{"authRequestID": {"a"}}), "/login/enroll?authRequestID=a"},
		{post("/account/security/totp/enable-confirm", url.Values{"code": {"1"}}), "/account/security"},
		{post("/account/password/code", nil), "/account/password"},
		{post("/account/name", url.Values{"name": {"x"}}), "/account"},
		{post("/recover/reset", url.Values{"token": {"t"}, "password": {"p"}}), "/recover/reset?token=t"},
		{post("/register", url.Values{"authRequestID": {"a"}, "password": {"p"}}), "/register"},
		{post("/recover", url.Values{"authRequestID": {"a"}, "email": {"x@example.com"}}), "/recover"},
	} {
		if c.got != c.want {
			t.Errorf("back = %q, want %q", c.got, c.want)
		}
	}
}
