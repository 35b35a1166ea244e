package templates

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestPathsUnderBase checks that no page names a path of the site as it
// is: under an issuer with a path (https://example.com/auth) every link,
// form action, script and stylesheet must go under that path, so a fixed
// path is written {{base}}/account and a path from the page's data
// {{url .Action}} (login/README.md, "Your own templates").
func TestPathsUnderBase(t *testing.T) {
	bare := regexp.MustCompile(`\s(href|src|action|formaction)="/`)
	names, err := fs.Glob(FS, "*.html")
	if err != nil || len(names) == 0 {
		t.Fatalf("no pages: %v", err)
	}
	for _, name := range names {
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if bare.MatchString(line) {
				t.Errorf("%s:%d: a site path without {{base}}: %s", name, i+1, strings.TrimSpace(line))
			}
		}
	}
}
