package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces DESIGN.md's import rules on non-test
// code: op and login never import each other, storage and its peers stay on
// the standard library, and nothing imports cmd. The command's own packages
// under cmd/gatehouse/internal have rules too: config stands alone,
// metrics sees only storage and the mail sender it decorates, admin sits
// on the libraries (login's among them: the emails that tell a user what
// an administrator changed are login's, sent with its mail sender), and
// demo on admin; none of them imports another
// except demo admin, and none imports the command (package main), which
// wires them together.
func TestDependencyDirection(t *testing.T) {
	t.Parallel()
	const mod = "github.com/gatehouse-idp/gatehouse/"
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// allowed maps a package prefix to the project packages it may import.
	allowed := map[string][]string{
		"op":                        {"storage", "storage/seal"},
		"login":                     {"storage", "storage/seal", "login/"},
		"login/lockout":             {"storage"},
		"login/password":            {"login/password/policy"},
		"login/password/policy":     {},
		"login/totp":                {},
		"login/i18n":                {},
		"login/mail":                {},
		"storage":                   {},
		"storage/seal":              {},
		"storage/sqlite":            {"storage", "migrations", "storage/internal/"},
		"storage/postgres":          {"storage", "migrations", "storage/internal/"},
		"storage/internal/":         {"storage"},
		"storage/storagetest":       {"storage"},
		"storage/postgres/pgtest":   {},
		"storage/sqlite/sqlitetest": {"storage/sqlite"},
		"storage/teststore":         {"storage", "storage/sqlite", "storage/postgres", "storage/postgres/pgtest", "storage/sqlite/sqlitetest"},
		"templates":                 {},
		"migrations":                {},

		"cmd/gatehouse/internal/config":  {"templates"},
		"cmd/gatehouse/internal/metrics": {"storage", "login/mail", "login/lockout"},
		"cmd/gatehouse/internal/admin":   {"storage", "storage/seal", "op", "login", "login/i18n", "login/lockout", "login/mail", "login/password"},
		"cmd/gatehouse/internal/demo":    {"cmd/gatehouse/internal/admin", "storage", "storage/seal", "login/password", "templates"},
		"cmd/gatehouse/internal/console": {"cmd/gatehouse/internal/admin", "storage", "storage/seal", "op", "login", "login/i18n", "login/mail", "login/password", "templates"},
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(p.ImportPath, mod)
		if strings.HasPrefix(pkg, "cmd/") && !strings.HasPrefix(pkg, "cmd/gatehouse/internal/") {
			continue // the commands wire everything together
		}
		rule, ok := allowed[pkg]
		if !ok {
			for prefix, r := range allowed {
				if strings.HasSuffix(prefix, "/") && strings.HasPrefix(pkg, prefix) {
					rule, ok = r, true
				}
			}
		}
		if !ok {
			t.Errorf("package %s has no dependency rule; add one", pkg)
			continue
		}
		for _, imp := range p.Imports {
			dep, project := strings.CutPrefix(imp, mod)
			if !project {
				continue
			}
			permitted := false
			for _, a := range rule {
				if dep == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(dep, a)) {
					permitted = true
				}
			}
			if !permitted {
				t.Errorf("%s imports %s, which DESIGN.md's dependency direction forbids", pkg, dep)
			}
		}
	}
}

// TestNoTestingInBinary keeps the testing package, and whatever test
// helpers would bring it, out of the server binary.
func TestNoTestingInBinary(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" {
			t.Fatal("the gatehouse binary links the testing package; move the code that needs it to a package only tests import")
		}
	}
}
