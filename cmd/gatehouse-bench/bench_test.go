package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for gatehouse-bench when the bench
// starts its plain server (os.Executable plain …).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "plain" {
		if err := runPlain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchSmoke runs the whole bench, briefly, against a real gatehouse
// on SQLite: users made with the CLI, apps enrolled over HTTP, every phase
// measured. Each phase must have succeeded at least once, nearly without
// errors, and the table must carry its ratios and the RSS.
func TestBenchSmoke(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gatehouse")
	// make build's flags: the packages come from the build cache that
	// make build and cmd/gatehouse's tests fill.
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../gatehouse")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build gatehouse: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := runBench(ctx, []string{"-gatehouse", bin, "-users", "3", "-signins", "4", "-signin-concurrency", "1",
		"-duration", "300ms", "-rounds", "1", "-concurrency", "4", "-paced", "1s"}, &out)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	rows := map[string][]string{}
	for line := range strings.SplitSeq(out.String(), "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 8 {
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			rows[cells[1]] = cells[1:]
		}
	}
	for _, name := range []string{"full sign-ins", "authorization_code ES256", "authorization_code RS256",
		"client_credentials ES256 JWT", "client_credentials RS256 JWT", "client_credentials opaque", "refresh_token (rotation) ES256",
		"discovery", "JWKS", "introspection of a JWT", "introspection of an opaque token", "userinfo", "plain hello", "plain token ES256"} {
		r, ok := rows[name]
		if !ok {
			t.Errorf("no row %q in:\n%s", name, out.String())
			continue
		}
		rate, _ := strconv.ParseFloat(r[1], 64)
		errs, _ := strconv.Atoi(r[5])
		if rate <= 0 || errs > 2 {
			t.Errorf("%s: %s req/s, %s errors", name, r[1], r[5])
		}
		if name != "plain hello" && r[7] == "" {
			t.Errorf("%s: no ratio", name)
		}
	}
	if !strings.Contains(out.String(), "| password step at 70% load") {
		t.Errorf("no row of the password step at 70%% load:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "hashes at once the machine did") || !strings.Contains(out.String(), "Full sign-ins reached") {
		t.Errorf("no parallel argon2id ceiling:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Server RSS:") || !strings.Contains(out.String(), "MiB idle") {
		t.Errorf("no RSS line:\n%s", out.String())
	}
}

// TestPacedRateOption: -paced-rate sets the paced phase's rate, within
// its bounds.
func TestPacedRateOption(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want float64
		ok   bool
	}{{"0", 0, true}, {"40", 40, true}, {"-1", 0, false}, {"1001", 0, false}} {
		o, err := parseOptions([]string{"-gatehouse", os.Args[0], "-paced-rate", tc.arg}, io.Discard)
		switch {
		case tc.ok && (err != nil || o.pacedRate != tc.want):
			t.Errorf("-paced-rate %s: %v, %v; want %v", tc.arg, o, err, tc.want)
		case !tc.ok && err == nil:
			t.Errorf("-paced-rate %s accepted", tc.arg)
		}
	}
}
