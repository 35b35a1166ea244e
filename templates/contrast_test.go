package templates

import (
	"math"
	"regexp"
	"strings"
	"testing"
)

func TestContrast(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"#000", "#fff", 21},
		{"#ffffff", "#000000", 21},
		{"#777", "#777", 1},
		{"#f0b400", "#fff", 1.87}, // the old focus ring (issue 18)
		{"#d5dbe3", "#FFF", 1.39}, // the old input border
	} {
		got, err := Contrast(tc.a, tc.b)
		if err != nil || math.Abs(got-tc.want) > 0.005 {
			t.Errorf("Contrast(%s, %s) = %.3f, %v; want %.2f", tc.a, tc.b, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "fff", "#ff", "#ggg", "#12345", "#1234567", "red"} {
		if _, err := Contrast(bad, "#fff"); err == nil {
			t.Errorf("Contrast(%q, #fff): no error", bad)
		}
	}
}

// themes returns the custom properties of gatehouse.css's light theme
// (:root) and of its dark theme (the light one with the overrides of
// prefers-color-scheme: dark).
func themes(t *testing.T) map[string]map[string]string {
	t.Helper()
	css, err := FS.ReadFile("static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	text := string(css)
	dark := strings.Index(text, "@media (prefers-color-scheme: dark)")
	if dark < 0 {
		t.Fatal("gatehouse.css has no dark theme")
	}
	property := regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]+)`)
	vars := func(s string) map[string]string {
		m := map[string]string{}
		for _, p := range property.FindAllStringSubmatch(s, -1) {
			m[p[1]] = p[2]
		}
		return m
	}
	light := vars(text[:dark])
	darkVars := vars(text[dark:])
	merged := map[string]string{}
	for k, v := range light {
		merged[k] = v
	}
	for k, v := range darkVars {
		merged[k] = v
	}
	return map[string]map[string]string{"light": light, "dark": merged}
}

// TestThemeContrast checks the built-in themes against WCAG 2.2: 4.5:1
// for text (1.4.3) and 3:1 for the focus indicator and the borders that
// show where a control is (1.4.11), on every background they are drawn
// on.
func TestThemeContrast(t *testing.T) {
	pairs := []struct {
		fg, bg string
		min    float64
	}{
		{"fg", "bg", 4.5}, {"fg", "card", 4.5},
		{"muted", "bg", 4.5}, {"muted", "card", 4.5},
		{"accent", "card", 4.5},      // links
		{"accent-fg", "accent", 4.5}, // buttons
		{"alert-fg", "alert-bg", 4.5},
		{"focus", "card", 3}, {"focus", "bg", 3},
		{"control", "card", 3}, // input and secondary button borders
	}
	for name, vars := range themes(t) {
		for _, p := range pairs {
			fg, bg := vars[p.fg], vars[p.bg]
			c, err := Contrast(fg, bg)
			if err != nil {
				t.Errorf("%s theme: --%s %q on --%s %q: %v", name, p.fg, fg, p.bg, bg, err)
				continue
			}
			if c < p.min {
				t.Errorf("%s theme: --%s %s on --%s %s is %.2f:1, want at least %.1f:1", name, p.fg, fg, p.bg, bg, c, p.min)
			}
		}
	}
}
