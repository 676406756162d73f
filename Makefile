# Tollgate — the two commands that matter: `make run` and `make test`.
GO       ?= go
BIN      := bin/tollgate
PKGS     := ./...

.PHONY: all build run run-cluster test test-race vet bench bench-go fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/tollgate

# Start the demo upstream and the proxy on the quickstart config.
run: build
	@scripts/run-quickstart.sh $(BIN)

# Three instances sharing their rate limits through Redis and shipping their
# audit logs to PostgreSQL, both started from the machine's packages.
run-cluster: build
	@scripts/run-cluster.sh $(BIN)

# Everything a contributor needs: vet, unit and end-to-end tests (fuzz seed
# corpora run as ordinary tests), with the race detector off so the
# zero-allocation gates run too.
test: vet
	$(GO) test -count=1 -timeout 15m $(PKGS)

vet:
	$(GO) vet $(PKGS)

# The race detector over everything (the allocation gates are skipped
# under -race, which allocates).
test-race:
	$(GO) test -race -short -count=1 -timeout 20m $(PKGS)

# A minute of coverage-guided fuzzing per target of one package:
#   make fuzz PKG=./engine/router
fuzz:
	@for f in $$($(GO) test -list '^Fuzz' $(PKG) | grep '^Fuzz'); do \
		echo "== $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 60s $(PKG) || exit 1; \
	done

# Go micro-benchmarks (filter chain, router, audit log).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Load harness: Tollgate side by side with nginx, HAProxy and Caddy.
bench: build
	scripts/bench.sh

clean:
	rm -rf bin data
