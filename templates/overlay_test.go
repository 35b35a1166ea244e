package templates

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestOverlay(t *testing.T) {
	over := fstest.MapFS{
		"login.html":           {Data: []byte("operator's login")},
		"static/extra.css":     {Data: []byte("extra")},
		"static/gatehouse.css": {Data: []byte("operator's css")},
	}
	o := Overlay(over, FS)
	read := func(name string) string {
		b, err := fs.ReadFile(o, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(b)
	}
	if got := read("login.html"); got != "operator's login" {
		t.Errorf("login.html = %q, want the operator's", got)
	}
	if got := read("static/gatehouse.css"); got != "operator's css" {
		t.Errorf("static/gatehouse.css = %q, want the operator's", got)
	}
	if got := read("static/extra.css"); got != "extra" {
		t.Errorf("static/extra.css = %q", got)
	}
	builtIn, _ := fs.ReadFile(FS, "error.html")
	if got := read("error.html"); got != string(builtIn) {
		t.Errorf("error.html is not the built-in one")
	}
	if _, err := o.Open("nothing.html"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file neither has: %v, want ErrNotExist", err)
	}
	if err := fstest.TestFS(Overlay(fstest.MapFS{}, FS), "layout.html", "static/gatehouse.css"); err != nil {
		t.Errorf("an empty overlay is not the built-in FS: %v", err)
	}
}
