package sqlite

import (
	"path/filepath"
	"testing"
)

// TestWALHeader reads the WAL-index header of a live database, which
// must give a mark, and spoils it each way a reader must refuse: copies
// that differ (a write caught half-way), a header not initialised, a
// wrong checksum.
func TestWALHeader(t *testing.T) {
	s, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.wal == nil {
		t.Fatal("no WAL-index opened")
	}
	var b [2 * walHeaderSize]byte
	if n, err := s.wal.shm.f.ReadAt(b[:], 0); n != len(b) || err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	if _, ok := walHeader(b); !ok {
		t.Fatalf("the live header % x gives no mark", b)
	}
	for _, tt := range []struct {
		name  string
		spoil func(b *[2 * walHeaderSize]byte)
	}{
		{"copies differ", func(b *[2 * walHeaderSize]byte) { b[walHeaderSize+16]++ }},
		{"not initialised", func(b *[2 * walHeaderSize]byte) { b[12], b[walHeaderSize+12] = 0, 0 }},
		{"wrong checksum", func(b *[2 * walHeaderSize]byte) { b[8]++; b[walHeaderSize+8]++ }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spoilt := b
			tt.spoil(&spoilt)
			if mark, ok := walHeader(spoilt); ok {
				t.Errorf("a spoilt header gave the mark % x", mark)
			}
		})
	}
}
