# streamlab — one binary, many roles. `make help` lists the verbs.
SHELL := /bin/bash
GO ?= go
BIN ?= ./streamlab
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/streamlab/streamlab/internal/cli.Version=$(VERSION)
FUZZTIME ?= 5s

.PHONY: help build test lint fuzz bench

help: ## list the verbs
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build the one binary ./streamlab
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

test: ## the fast suite: vet, gofmt, unit + oracle tests, short fuzz runs
	$(MAKE) lint
	$(GO) test -count=1 ./...
	$(MAKE) fuzz

lint: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fuzz: ## run every fuzz target for FUZZTIME each
	$(GO) test -run '^$$' -fuzz '^FuzzAgainstEncodingJSON$$' -fuzztime $(FUZZTIME) ./internal/jsonscan
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/event
	$(GO) test -run '^$$' -fuzz '^FuzzPipeline$$' -fuzztime $(FUZZTIME) ./internal/pipeline

bench: ## engine and offline benchmarks (events/s, allocs/event)
	$(GO) test -run '^$$' -bench . -benchmem ./internal/event ./internal/window ./internal/pipeline
