package console

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestPathsUnderBase checks that no console page names a path of the site
// as it is: under an issuer with a path every link, form action, script
// and stylesheet goes under it, written {{base}}/admin or {{url .Link}}.
func TestPathsUnderBase(t *testing.T) {
	bare := regexp.MustCompile(`\s(href|src|action|formaction)="/`)
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil || len(names) == 0 {
		t.Fatalf("no pages: %v", err)
	}
	for _, name := range names {
		b, err := fs.ReadFile(files, name)
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
