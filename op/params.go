package op

import (
	"net/url"
	"regexp"
	"slices"
)

// parameterName matches the parameter names an error description may
// repeat: the description's characters are restricted (RFC 6749
// §4.1.2.1), and the name is the caller's.
var parameterName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// RepeatedParameter returns the name of a parameter of form given more
// than once ("a parameter" when its name cannot be shown), or "" if none
// is (RFC 6749 §3.1: "Request and response parameters MUST NOT be
// included more than once"). A value that is empty does not count: a
// parameter sent without a value is treated as omitted. The names are
// tried in order, so the answer is the same every time.
func RepeatedParameter(form url.Values) string {
	var repeated []string
	for name, values := range form {
		n := 0
		for _, v := range values {
			if v != "" {
				n++
			}
		}
		if n > 1 {
			repeated = append(repeated, name)
		}
	}
	if len(repeated) == 0 {
		return ""
	}
	slices.Sort(repeated)
	if !parameterName.MatchString(repeated[0]) {
		return "a parameter"
	}
	return repeated[0]
}
