# Jawn Vault. The two commands a fresh machine needs:
#   make dev    build and run a throwaway vault with example secrets
#   make test   install missing tools (as root) and run every test
.DEFAULT_GOAL := help
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
# An execution count, not a duration: a duration-based -fuzztime can fail
# with "context deadline exceeded" at its end on a busy machine, a race in
# Go's fuzz coordinator (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 50000x
BINARIES := jawn-vault vault-cli vault-exec vault-migrate

.PHONY: help build dev test test-go test-fuzz test-e2e test-python test-node deps vet clean bench

help:
	@echo "make dev    run a throwaway vault (prints VAULT_SOCKET and VAULT_TOKEN)"
	@echo "make test   run every test (installs what is missing when run as root)"
	@echo "make build  build $(BINARIES) into bin/"

# vault-exec is built static (no cgo): it runs on every service start, and
# a static binary skips the dynamic loader. It looks up no users or groups,
# the only thing cgo would change.
build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/ $(addprefix ./cmd/,$(filter-out vault-exec,$(BINARIES)))
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/vault-exec

dev: build
	$(BIN)/jawn-vault dev

# deps installs what the tests need, or names what is missing: real gpg and
# pass, git for git-backed stores, systemd-analyze for the units, chromium
# for the status page, Python and Node for the SDKs, and the tools the
# runbook's own commands use (sqlite3, fuser, ss), which its drills run.
deps:
	@missing=""; \
	for t in gpg:gnupg pass:pass git:git systemd-analyze:systemd chromium:chromium python3:python3 node:nodejs npm:npm sqlite3:sqlite3 fuser:psmisc ss:iproute2; do \
		command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing:$$missing — install them (Debian: sudo apt-get install$$missing)"; exit 1; \
		fi; \
	fi

vet:
	$(GO) vet ./...

test: deps vet test-go test-fuzz test-e2e test-python test-node

test-go: build
	JAWN_VAULT_BIN=$(BIN)/jawn-vault VAULT_CLI_BIN=$(BIN)/vault-cli VAULT_EXEC_BIN=$(BIN)/vault-exec VAULT_MIGRATE_BIN=$(BIN)/vault-migrate \
		TEST_ARTIFACTS_DIR=$(CURDIR)/out/artifacts \
		$(GO) test -count=1 -timeout 20m ./...

# Each fuzz target runs briefly on every test run; the seed corpus is in
# the packages' testdata/fuzz.
test-fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZTIME) ./vaultd/wire
	$(GO) test -run '^$$' -fuzz '^FuzzFastPath$$' -fuzztime $(FUZZTIME) ./vaultd/wire
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./vaultd/vpath
	$(GO) test -run '^$$' -fuzz '^FuzzQuoteEnv$$' -fuzztime $(FUZZTIME) ./migrate
	$(GO) test -run '^$$' -fuzz '^FuzzParseUnitFile$$' -fuzztime $(FUZZTIME) ./migrate
	$(GO) test -run '^$$' -fuzz '^FuzzParseMapFile$$' -fuzztime $(FUZZTIME) ./inject

test-e2e: build
	PATH=$(BIN):$$PATH tests/e2e/test_basic.sh

test-python: build
	cd clients/python && JAWN_VAULT_BIN=$(BIN)/jawn-vault VAULT_CLI_BIN=$(BIN)/vault-cli python3 -m unittest discover -s tests -v

test-node: build
	cd clients/node && npm ci --no-audit --no-fund && JAWN_VAULT_BIN=$(BIN)/jawn-vault VAULT_CLI_BIN=$(BIN)/vault-cli npm test

# bench measures the daemon beside Redis, gpg and pass in one run and writes
# bench/results/latest.json and latest.md (see bench/README.md). A missed
# target is reported, not failed. BENCH_FLAGS passes flags to the suite,
# e.g. BENCH_FLAGS=--duration=2s.
bench: build
	$(GO) build -trimpath -o $(BIN)/ ./cmd/vault-bench
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/bench-goexec ./bench/goexec
	@if ! command -v redis-server >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing: redis-server"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
		else \
			echo "missing: redis-server — install it (Debian: sudo apt-get install redis-server); the Redis rows will show an error"; \
		fi; \
	fi
	$(BIN)/vault-bench suite --out bench/results/latest.json $(BENCH_FLAGS)

clean:
	rm -rf $(BIN)
