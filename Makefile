# Gatehouse: common tasks. `make` alone lists them.

BINARY      := bin/gatehouse
# VERSION is stamped into the binary (gatehouse version).
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.DEFAULT_GOAL := help
.PHONY: help build run demo cluster test test-short fuzz lint migrate clean bench bench-postgres bench-peers bench-capacity

help: ## List the targets
	@echo "Usage: make TARGET"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/gatehouse (static, no cgo, version stamped from git describe)
	CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BINARY) ./cmd/gatehouse

run: build ## Build and serve on http://localhost:8080 (SQLite under data/; emails to data/mail/ without SMTP; honours GATEHOUSE_CONFIG)
	@echo "Emails: without an SMTP server (mail.smtp.host), each email is written to the mail outbox, data/mail/ by default (mail.outbox_dir),"
	@echo "        one .eml file each, newest last: open it to read the codes and links. The banner below names the directory."
	./$(BINARY) serve

# demo: the same database as make run and the CLI (data/gatehouse.db unless
# the configuration says otherwise), so `./bin/gatehouse blocks list` or
# `audit` show what the demo did; the demo user's password is printed when
# it is created.
demo: build ## Serve with a demo user, client and app: open http://localhost:8080/demo
	./$(BINARY) serve --demo

# cluster: two replicas on one PostgreSQL (127.0.0.1:8081 and :8082, admin
# listeners on :9091 and :9092, same issuer, same key file) behind HAProxy on
# :8080 with cmd/gatehouse/deploy/haproxy.cfg (statistics page on
# http://127.0.0.1:8404/stats). Ctrl-C stops all three. A replica may be
# killed (kill -9) or drained (kill -TERM) to watch HAProxy take it out of
# rotation; HAProxy runs in the foreground, and when it exits the replicas
# are stopped too.
CLUSTER_DEFAULT_DB := postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
HAPROXY_CONFIG     := cmd/gatehouse/deploy/haproxy.cfg

cluster: build ## Two replicas on PostgreSQL behind HAProxy on http://localhost:8080 (GATEHOUSE_DATABASE_URL)
	@set -u; \
	if ! command -v haproxy >/dev/null 2>&1; then \
		echo "make cluster needs HAProxy (2.6 or later), which is not installed." >&2; \
		echo "On Debian or Ubuntu: sudo apt-get install --no-install-recommends haproxy" >&2; \
		exit 2; \
	fi; \
	haproxy -c -q -f $(HAPROXY_CONFIG) || exit 2; \
	db="$${GATEHOUSE_DATABASE_URL:-}"; \
	if [ -z "$$db" ]; then \
		db='$(CLUSTER_DEFAULT_DB)'; \
		echo "GATEHOUSE_DATABASE_URL is not set: using $$db"; \
	fi; \
	case "$$db" in \
		postgres://*|postgresql://*) ;; \
		*) echo "make cluster needs PostgreSQL: GATEHOUSE_DATABASE_URL must be a postgres:// URL (got $$db)" >&2; exit 2;; \
	esac; \
	export GATEHOUSE_DATABASE_URL="$$db" GATEHOUSE_ISSUER=http://localhost:8080 \
		GATEHOUSE_HTTP_TRUSTED_PROXIES=127.0.0.1/32 GATEHOUSE_HTTP_SHUTDOWN_DELAY=5s; \
	./$(BINARY) keys list >/dev/null || exit 1; \
	pids=""; \
	trap 'kill $$pids 2>/dev/null; wait; exit 0' INT TERM; \
	GATEHOUSE_HTTP_ADDRESS=127.0.0.1:8081 GATEHOUSE_ADMIN_ADDRESS=127.0.0.1:9091 ./$(BINARY) serve & pids="$$pids $$!"; \
	GATEHOUSE_HTTP_ADDRESS=127.0.0.1:8082 GATEHOUSE_ADMIN_ADDRESS=127.0.0.1:9092 ./$(BINARY) serve & pids="$$pids $$!"; \
	echo "cluster: replicas on :8081 and :8082, HAProxy on http://localhost:8080, its statistics on http://127.0.0.1:8404/stats (Ctrl-C stops all)"; \
	LB_LISTEN=127.0.0.1:8080 LB_REPLICA1=127.0.0.1:8081 LB_REPLICA2=127.0.0.1:8082 LB_STATS=127.0.0.1:8404 \
		haproxy -db -f $(HAPROXY_CONFIG); status=$$?; \
	echo "cluster: HAProxy exited; stopping the replicas" >&2; \
	kill $$pids 2>/dev/null; wait; exit $$status

# bench: gatehouse-bench starts bin/gatehouse on a fresh database in a
# temporary directory, creates its own users and clients with the CLI, drives
# it over loopback (bounded in time and requests) and stops it; it prints the
# table of req/s, latencies and ratios to ceilings measured in the same run.
BENCH_BINARY       := bin/gatehouse-bench
BENCH_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable

bench: build ## Benchmark a fresh SQLite server: req/s, latencies and ratios to this machine's ceilings
	CGO_ENABLED=0 go build -o $(BENCH_BINARY) ./cmd/gatehouse-bench
	./$(BENCH_BINARY) -gatehouse $(BINARY) -out bin/bench-sqlite.json

bench-postgres: build ## The same on a fresh database of PostgreSQL (BENCH_POSTGRES_URL), compared with make bench's figures
	CGO_ENABLED=0 go build -o $(BENCH_BINARY) ./cmd/gatehouse-bench
	./$(BENCH_BINARY) -gatehouse $(BINARY) -database '$(BENCH_POSTGRES_URL)' -out bin/bench-postgres.json \
		$$(test -f bin/bench-sqlite.json && echo -baseline bin/bench-sqlite.json)

# bench-peers: builds zitadel/oidc's example server (the version go.mod
# requires) and installs oidc-provider with npm under bin/peers/ (kept between
# runs), then measures both beside a fresh SQLite Gatehouse in interleaved
# rounds. Needs node and npm; .ci/run does not use it.
bench-peers: build ## Gatehouse beside zitadel/oidc's example server and oidc-provider: req/s, p99 and RSS in interleaved rounds
	CGO_ENABLED=0 go build -o $(BENCH_BINARY) ./cmd/gatehouse-bench
	./$(BENCH_BINARY) peers -gatehouse $(BINARY)

# bench-capacity: PostgreSQL statements, transactions, rows and WAL per
# sign-in and per token request, bytes kept per user and per sign-in,
# counted through a relay on a PostgreSQL cluster of its own (initdb and
# pg_ctl from the postgresql package); then users -> replicas and database
# size. About 5 minutes; .ci/run does not use it.
bench-capacity: build ## PostgreSQL statements, WAL and bytes per sign-in and per token; users -> replicas and database size
	CGO_ENABLED=0 go build -o $(BENCH_BINARY) ./cmd/gatehouse-bench
	./$(BENCH_BINARY) capacity -gatehouse $(BINARY)

migrate: build ## Apply database migrations (honours GATEHOUSE_CONFIG and GATEHOUSE_DATABASE_URL)
	./$(BINARY) migrate

# test: the end-to-end package (cmd/gatehouse) is the longest, about 4.5
# minutes under the race detector on a 2-CPU machine (it has taken up to 13
# on slower ones); the timeout leaves room, well inside .ci/run's 90. Its
# tests wait on processes, the network and timers much of the time: four
# at once, not GOMAXPROCS (two here), keep the CPUs busier.
# -trimpath keeps the source directory out of the build cache's keys: a
# fresh clone elsewhere on the same machine (CI's) reuses what an earlier
# run compiled, instead of compiling and vetting everything again (about
# 70 s of CPU here).
# RACE_C: the race detector instruments Gatehouse and the SQLite driver's
# Go (modernc.org/sqlite), but not SQLite itself: modernc.org/sqlite/lib
# is SQLite's C translated to Go, and modernc.org/libc the C library it
# runs on. Under -race a cgo build of SQLite is not instrumented either
# (C never is); instrumenting the translation made every statement of the
# in-process tests about four times dearer (storage/sqlite's tests: 34 s of
# CPU against 8). A race in Gatehouse's code is still reported.
RACE_C := -gcflags=modernc.org/sqlite/lib=-race=false -gcflags=modernc.org/libc/...=-race=false
test: ## go vet, then every test with the race detector (PostgreSQL tests need GATEHOUSE_TEST_POSTGRES_DSN)
	go vet -trimpath ./...
	go test -trimpath -race $(RACE_C) -count=1 -parallel 4 -timeout 30m ./...

# test-short: the packages' own tests (login's steps with httptest, the
# real SQLite store and an injected clock; op; storage; the admin, config
# and metrics packages), without the end-to-end tests that start the
# binary (cmd/gatehouse itself), on SQLite only: the PostgreSQL DSN is
# cleared, so that an exported one does not add the PostgreSQL suites
# (minutes; make test runs them). Under a minute.
test-short: ## The in-package tests only, on SQLite, without the end-to-end suite of cmd/gatehouse (under a minute)
	GATEHOUSE_TEST_POSTGRES_DSN= GATEHOUSE_TEST_REQUIRE_POSTGRES= go test -count=1 $$(go list ./... | grep -v '/cmd/gatehouse$$')

# fuzz: each fuzz target for a bounded number of inputs (by count, not
# time: a -fuzztime duration running out while a worker minimizes an input
# can fail the target although nothing failed). The first run compiles
# every package with the fuzzer's instrumentation (minutes on 2 CPUs);
# FuzzLoadConfig writes a file per input. New failing inputs land in the
# package's testdata/fuzz, where make test replays them.
FUZZ_RUNS := FuzzLoadConfig:3000:./cmd/gatehouse/internal/config/ FuzzRedirectURI:10000:./cmd/gatehouse/internal/admin/ \
	FuzzClientIP:10000:./cmd/gatehouse/ FuzzForms:10000:./cmd/gatehouse/ FuzzQuery:6000:./cmd/gatehouse/ \
	FuzzAuthorize:10000:./cmd/gatehouse/ FuzzCookies:4000:./cmd/gatehouse/

fuzz: ## Fuzz every target for a bounded number of inputs (about two minutes; make test replays the seeds)
	@set -e; for run in $(FUZZ_RUNS); do \
		f=$${run%%:*}; rest=$${run#*:}; n=$${rest%%:*}; pkg=$${rest#*:}; \
		echo "fuzz $$f ($$n inputs) in $$pkg"; \
		timeout 600 go test -run '^$$' -fuzz "^$$f\$$" -fuzztime "$${n}x" -fuzzminimizetime 100x "$$pkg"; \
	done

lint: ## gofmt, go vet and staticcheck
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$unformatted"; exit 1; fi
	go vet -trimpath ./...
	go run $(STATICCHECK) ./...

clean: ## Remove bin/ (data/ holds your database and secret key: it is left alone)
	rm -rf bin
