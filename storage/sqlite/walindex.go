package sqlite

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// walIndex reads the header of the database's WAL-index, its -shm file,
// as the commit mark of the Store (sqlstore.CommitMark). SQLite's file
// format (section 4.5) has every commit rewrite the header: a change
// counter, the last valid frame of the log, its checksums and salts. A
// reader whose copy equals the header knows that nothing has committed
// since, which is how SQLite decides that its page cache is still good;
// so does a Store before it reads the generation counts.
//
// The header is 48 bytes, stored twice: a writer writes the second copy,
// then the first, and a reader that finds them different has caught a
// write half-way, and gives no mark. So does a header that is not
// initialised (its isInit byte, at offset 12, is not 1), one whose
// checksum fails and a short read: the counts are then read.
type walIndex struct {
	shm *shmFile
}

// walHeaderSize is the size of one copy of the WAL-index header.
const walHeaderSize = 48

// mark returns the header, or ok false.
func (w *walIndex) mark() (mark [walHeaderSize]byte, ok bool) {
	var b [2 * walHeaderSize]byte
	if n, err := w.shm.f.ReadAt(b[:], 0); n != len(b) || err != nil {
		return mark, false
	}
	return walHeader(b)
}

// walHeader returns the header in b, the WAL-index's first 96 bytes, if
// its two copies are equal, it is initialised and its checksum holds, as
// SQLite's readers require (walIndexTryHdr).
func walHeader(b [2 * walHeaderSize]byte) (mark [walHeaderSize]byte, ok bool) {
	if !bytes.Equal(b[:walHeaderSize], b[walHeaderSize:]) || b[12] != 1 {
		return mark, false
	}
	// The checksum of the first 40 bytes, read as 32-bit integers in the
	// machine's byte order, two at a time (walChecksumBytes).
	var s1, s2 uint32
	for i := 0; i < 40; i += 8 {
		s1 += binary.NativeEndian.Uint32(b[i:]) + s2
		s2 += binary.NativeEndian.Uint32(b[i+4:]) + s1
	}
	if s1 != binary.NativeEndian.Uint32(b[40:]) || s2 != binary.NativeEndian.Uint32(b[44:]) {
		return mark, false
	}
	copy(mark[:], b[:walHeaderSize])
	return mark, true
}

// A shmTable holds the -shm files a process reads, one descriptor per
// file, shared by the Stores on it.
//
// POSIX locks belong to a process and a file, not to a descriptor: closing
// any descriptor of the -shm file drops every lock the process's SQLite
// connections hold on it (the one that tells other processes the
// WAL-index is in use, the readers' marks, the writer's lock). SQLite's
// unix VFS keeps one descriptor per file and closes it last for that
// reason. So does the table: a descriptor is opened once per file, before
// any other is, and closed only when the last Store on the file has closed
// and its connections are gone (Store.Close).
type shmTable struct {
	mu    sync.Mutex
	files map[string]*shmFile // by path, as SQLite names it
}

// A shmFile is a -shm file open read-only, and the Stores using it.
type shmFile struct {
	path string
	f    *os.File
	refs int
}

// shmFiles is the process's table: POSIX locks are the process's.
var shmFiles = shmTable{files: map[string]*shmFile{}}

// openWALIndex opens the -shm file of the database at dbPath, or shares
// the descriptor the process has open on it. SQLite creates the file with
// the first connection in WAL mode, next to the database file with its
// symbolic links resolved.
func openWALIndex(dbPath string) (*walIndex, error) {
	real, err := filepath.EvalSymlinks(dbPath)
	if err != nil {
		return nil, err
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, err
	}
	path := real + "-shm"
	shmFiles.mu.Lock()
	defer shmFiles.mu.Unlock()
	if s := shmFiles.files[path]; s != nil {
		s.refs++
		return &walIndex{shm: s}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s := &shmFile{path: path, f: f, refs: 1}
	shmFiles.files[path] = s
	return &walIndex{shm: s}, nil
}

// release gives the descriptor back: the last Store on the file closes
// it. Call it only once the Store's connections are closed.
func (w *walIndex) release() {
	shmFiles.mu.Lock()
	defer shmFiles.mu.Unlock()
	w.shm.refs--
	if w.shm.refs == 0 {
		delete(shmFiles.files, w.shm.path)
		w.shm.f.Close()
	}
}

// drainWait bounds how long Close waits for connections that were busy
// when it began.
const drainWait = 5 * time.Second

// Close closes the database, then gives the -shm descriptor back once the
// Store's connections are gone: database/sql closes a connection that is
// busy (a purge under way at shutdown) only when it is done, and closing
// the descriptor first would take its locks away. If they are not gone
// within drainWait, the descriptor stays open.
func (s *Store) Close() error {
	err := s.Store.Close()
	if s.wal == nil {
		return err
	}
	for deadline := time.Now().Add(drainWait); ; time.Sleep(5 * time.Millisecond) {
		if st := s.PoolStats(); st.InUse == 0 && st.Idle == 0 {
			s.wal.release()
			break
		}
		if time.Now().After(deadline) {
			break
		}
	}
	return err
}
