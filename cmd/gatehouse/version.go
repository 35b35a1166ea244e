package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the version stamped at build time, as make build does:
//
//	go build -ldflags "-X main.version=$(git describe --always --dirty)"
//
// It is the one package variable of the command: -X can set nothing else.
// Unstamped builds fall back on what the Go toolchain recorded
// (buildVersion).
var version string

// buildVersion returns the version of this binary: the stamped one, else
// the module version of a `go install …@version`, else the VCS revision
// recorded by go build (with -dirty for uncommitted changes), else
// "devel".
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return versionOf(version, info)
}

// versionOf implements buildVersion for a stamped version and build
// information (nil when there is none).
func versionOf(stamped string, info *debug.BuildInfo) string {
	if stamped != "" {
		return stamped
	}
	if info == nil {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// runVersion prints the version, the Go release it was built with and the
// platform: "gatehouse v1.2.0-3-gabc1234 (go1.26.8 linux/amd64)".
func runVersion(args []string, env *environ) error {
	fs, _ := flags("version", env)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("version: unexpected argument %q", fs.Arg(0))}
	}
	_, err := fmt.Fprintf(env.stdout, "gatehouse %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
