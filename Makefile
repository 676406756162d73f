# Tollgate — the two commands that matter: `make run` and `make test`.
GO       ?= go
BIN      := bin/tollgate
PKGS     := ./...

.PHONY: all build run test vet unit fuzz-seeds bench bench-go clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/tollgate

# Start the demo upstream and the proxy on the quickstart config.
run: build
	@scripts/run-quickstart.sh $(BIN)

# Everything a contributor needs: vet, unit and end-to-end tests (fuzz seed
# corpora run as ordinary tests), with the race detector off so the
# zero-allocation gates run too.
test: vet
	$(GO) test -count=1 -timeout 15m $(PKGS)

vet:
	$(GO) vet $(PKGS)

# Go micro-benchmarks (filter chain, router, audit log).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Load harness: Tollgate side by side with nginx, HAProxy and Caddy.
bench: build
	scripts/bench.sh

clean:
	rm -rf bin data
