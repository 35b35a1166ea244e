package templates

import (
	"errors"
	"io/fs"
)

// Overlay returns a file system that serves each file from over when it
// has it, and from base otherwise: an operator's directory of page
// templates and static files over the built-in ones (FS), which stay the
// default and the fallback.
func Overlay(over, base fs.FS) fs.FS { return overlay{over, base} }

type overlay struct{ over, base fs.FS }

func (o overlay) Open(name string) (fs.File, error) {
	f, err := o.over.Open(name)
	if err == nil {
		if st, serr := f.Stat(); serr == nil && !st.IsDir() {
			return f, nil
		}
		f.Close() // a directory: the built-in one lists the files
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return o.base.Open(name)
}
