package login

import "io/fs"

// filesOnly is a file system that holds only the files of fsys: opening a
// directory fails with fs.ErrNotExist, so that http.FileServerFS answers
// 404 where it would list the directory.
type filesOnly struct {
	fsys fs.FS
}

// Open opens the file name, or fails if name is a directory.
func (f filesOnly) Open(name string) (fs.File, error) {
	file, err := f.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	if fi.IsDir() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return file, nil
}
