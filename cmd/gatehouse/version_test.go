package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	t.Parallel()
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"stamped wins", "v1.2.0-3-gabc1234-dirty", &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}}, "v1.2.0-3-gabc1234-dirty"},
		{"go install", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, "v1.3.0"},
		{"vcs clean", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "0123456789abcdef0123", "vcs.modified", "false")}, "0123456789ab"},
		{"vcs dirty", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "0123456789abcdef0123", "vcs.modified", "true")}, "0123456789ab-dirty"},
		{"nothing recorded", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"no build info", "", nil, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(tt.stamped, tt.info); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVersionCommand runs the test binary's `gatehouse version`: go build
// recorded the commit it was built from.
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	g := newGatehouse(t, "sqlite:"+filepath.Join(t.TempDir(), "unused.db"))
	out := g.cli("", "version")
	re := regexp.MustCompile(`^gatehouse (\S+) \((go\S+) (\S+)/(\S+)\)\n$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("gatehouse version printed %q", out)
	}
	if m[1] == "" || m[2] != runtime.Version() || m[3] != runtime.GOOS || m[4] != runtime.GOARCH {
		t.Errorf("gatehouse version printed %q", out)
	}
	if _, errOut, err := g.tryCLI("", "version", "extra"); err == nil || !strings.Contains(errOut, "unexpected argument") {
		t.Errorf("gatehouse version extra: %v, %q; want a usage error", err, errOut)
	}
}

// TestMakeBuild runs `make build` into a temporary file: the binary is
// static (no cgo, no dynamic loader), says the version git describe gives,
// and holds no path of the build machine (-trimpath).
func TestMakeBuild(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, tool := range []string{"make", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "gatehouse")
	const stamp = "v0.0.0-test-stamp"
	cmd := exec.Command("make", "--no-print-directory", "build", "BINARY="+bin, "VERSION="+stamp)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "gatehouse "+stamp+" (") {
		t.Errorf("gatehouse version printed %q, want the stamp %q", out, stamp)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary asks for a dynamic loader: it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v dynamically", libs)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(root)) {
		t.Errorf("the binary contains the path of the source tree %s", root)
	}

	// Without VERSION, make stamps what git describe says (asked before
	// and after the build, in case a commit lands meanwhile).
	describe := func() string {
		v, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output()
		if err != nil {
			t.Skipf("git describe: %v", err)
		}
		return strings.TrimSpace(string(v))
	}
	before := describe()
	cmd = exec.Command("make", "--no-print-directory", "build", "BINARY="+bin)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	after := describe()
	out, err = exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "gatehouse "+before+" (") && !strings.HasPrefix(string(out), "gatehouse "+after+" (") {
		t.Errorf("gatehouse version printed %q, want %q from git describe", out, after)
	}
}
