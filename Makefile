# Gatehouse: common tasks. `make` alone lists them.

BINARY      := bin/gatehouse
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.DEFAULT_GOAL := help
.PHONY: help build run test lint migrate clean

help: ## List the targets
	@echo "Usage: make TARGET"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/gatehouse (static, no cgo)
	CGO_ENABLED=0 go build -o $(BINARY) ./cmd/gatehouse

run: build ## Build and serve on http://localhost:8080 (SQLite under data/; honours GATEHOUSE_CONFIG)
	./$(BINARY) serve

migrate: build ## Apply database migrations (honours GATEHOUSE_CONFIG and GATEHOUSE_DATABASE_URL)
	./$(BINARY) migrate

test: ## go vet, then every test with the race detector (PostgreSQL tests need GATEHOUSE_TEST_POSTGRES_DSN)
	go vet ./...
	go test -race -count=1 -timeout 20m ./...

lint: ## gofmt, go vet and staticcheck
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go run $(STATICCHECK) ./...

clean: ## Remove bin/ (data/ holds your database and secret key: it is left alone)
	rm -rf bin
