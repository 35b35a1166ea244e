package migrations

import (
	"io/fs"
	"slices"
	"testing"
)

// TestDialectsPaired checks that both dialects list the same versions under
// the same names, counting up from 1, each with an up and a down file.
func TestDialectsPaired(t *testing.T) {
	type version struct {
		Version uint
		Name    string
	}
	versions := make(map[string][]version)
	for _, dialect := range []string{Postgres, SQLite} {
		list, err := List(dialect)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			t.Fatalf("%s: no migrations", dialect)
		}
		for i, m := range list {
			if m.Version != uint(i+1) {
				t.Errorf("%s: version %d, want %d (versions count up from 1 without gaps)", m.Up, m.Version, i+1)
			}
			for _, name := range []string{m.Up, m.Down} {
				b, err := fs.ReadFile(FS, name)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) == 0 {
					t.Errorf("%s is empty", name)
				}
			}
			versions[dialect] = append(versions[dialect], version{m.Version, m.Name})
		}
	}
	if pg, lite := versions[Postgres], versions[SQLite]; !slices.Equal(pg, lite) {
		t.Errorf("dialects differ:\n%s: %v\n%s: %v", Postgres, pg, SQLite, lite)
	}
}

func TestListRejectsUnknownDialect(t *testing.T) {
	if _, err := List("oracle"); err == nil {
		t.Error("List(oracle) succeeded")
	}
}

func TestParseName(t *testing.T) {
	for _, tt := range []struct {
		file    string
		version uint
		name    string
		dir     string
		ok      bool
	}{
		{"0001_init.up.sql", 1, "init", "up", true},
		{"0012_add_totp.down.sql", 12, "add_totp", "down", true},
		{"0001_init.sql", 0, "", "", false},
		{"0001_init.sideways.sql", 0, "", "", false},
		{"init.up.sql", 0, "", "", false},
		{"0000_zero.up.sql", 0, "", "", false},
		{"x1_init.up.sql", 0, "", "", false},
		{"0001_.up.sql", 0, "", "", false},
		{"0001_init.up.txt", 0, "", "", false},
	} {
		v, name, dir, ok := parseName(tt.file)
		if v != tt.version || name != tt.name || dir != tt.dir || ok != tt.ok {
			t.Errorf("parseName(%q) = %d, %q, %q, %v; want %d, %q, %q, %v",
				tt.file, v, name, dir, ok, tt.version, tt.name, tt.dir, tt.ok)
		}
	}
}
