package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// serveGCPercent is the garbage collector's target that serve sets unless
// GOGC is set: a heap may grow to five times what is live before the next
// collection, not two. A request allocates tens of kilobytes that die with
// it, around a live heap of a few tens of megabytes, so at Go's default
// the collector ran every few thousand requests and took an eighth of a
// busy server's CPU. Measured side by side (gatehouse-bench, server CPU
// per request, GOGC 100 against 400): introspection of a JWT 218/180 →
// 120/119 µs, userinfo 210/158 → 120/116 µs, an authorization_code
// exchange 686/690 → 566/553 µs; the peak RSS of the run went from 140
// to 272 MiB.
const serveGCPercent = 400

// cgroupMemoryMax is the memory limit of the cgroup (v2) the process runs
// in.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// gcSettings returns what serve sets the collector to: the target
// (serveGCPercent, or -1 to leave it) and the soft memory limit (80 % of
// the cgroup's memory limit memoryMax, the file's contents, so that a
// larger heap goal never takes the process to its limit; or -1 to leave
// it), given the environment. GOGC and GOMEMLIMIT, when set, are the
// operator's and win: Go has applied them already.
func gcSettings(getenv func(string) string, memoryMax string) (percent int, limit int64) {
	percent, limit = -1, -1
	if getenv("GOGC") == "" {
		percent = serveGCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(memoryMax), 10, 64); err == nil && n > 0 {
			limit = n / 10 * 8
		}
	}
	return percent, limit
}

// tuneGC applies gcSettings once the server has started: what start-up
// allocated is collected at Go's default, which keeps the idle server's
// memory where it was.
func tuneGC(logger *slog.Logger, getenv func(string) string) {
	memoryMax, _ := os.ReadFile(cgroupMemoryMax) // absent outside a cgroup v2 with a limit
	percent, limit := gcSettings(getenv, string(memoryMax))
	if percent >= 0 {
		debug.SetGCPercent(percent)
	}
	if limit >= 0 {
		debug.SetMemoryLimit(limit)
	}
	logger.Info("garbage collector", "gc_percent", percentOf(percent, getenv("GOGC")),
		"memory_limit", limitOf(limit, getenv("GOMEMLIMIT")))
}

// percentOf and limitOf say in the log where the collector's settings
// come from.
func percentOf(percent int, env string) string {
	if percent < 0 {
		return "GOGC=" + env
	}
	return strconv.Itoa(percent)
}

func limitOf(limit int64, env string) string {
	switch {
	case env != "":
		return "GOMEMLIMIT=" + env
	case limit < 0:
		return "none"
	}
	return strconv.FormatInt(limit>>20, 10) + " MiB (80 % of the cgroup's memory.max)"
}
