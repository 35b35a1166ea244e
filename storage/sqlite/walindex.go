package sqlite

import (
	"bytes"
	"os"
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
// initialised (its isInit byte, at offset 12, is not 1) and a short read:
// the counts are then read.
type walIndex struct {
	f *os.File
}

// walHeaderSize is the size of one copy of the WAL-index header.
const walHeaderSize = 48

// openWALIndex opens the -shm file of the database at dbPath, read-only.
// SQLite creates it with the first connection in WAL mode.
func openWALIndex(dbPath string) (*walIndex, error) {
	f, err := os.Open(dbPath + "-shm")
	if err != nil {
		return nil, err
	}
	return &walIndex{f: f}, nil
}

// mark returns the header, or ok false.
func (w *walIndex) mark() (mark [walHeaderSize]byte, ok bool) {
	var b [2 * walHeaderSize]byte
	if n, err := w.f.ReadAt(b[:], 0); n != len(b) || err != nil {
		return mark, false
	}
	if !bytes.Equal(b[:walHeaderSize], b[walHeaderSize:]) || b[12] != 1 {
		return mark, false
	}
	copy(mark[:], b[:walHeaderSize])
	return mark, true
}

func (w *walIndex) close() error { return w.f.Close() }
