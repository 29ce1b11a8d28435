# streamlab — one binary, many roles. `make help` lists the verbs.
SHELL := /bin/bash
GO ?= go
BIN ?= ./streamlab
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/streamlab/streamlab/cli.Version=$(VERSION)
# Fuzz budgets are execution counts, not durations: a wall-clock -fuzztime
# races Go's fuzz coordinator at the deadline (golang/go#75804, "context
# deadline exceeded" with no input written). Each is a few seconds here.
# Minimisation is capped by count too, or new inputs eat the whole budget.
FUZZ_JSONSCAN ?= 200000x
FUZZ_PARSE ?= 250000x
FUZZ_PIPELINE ?= 60000x
FUZZ_STATE ?= 100000x
FUZZMINIMIZE ?= 100x
COMPOSE ?= docker compose
# The workflow linter, pinned; `go run` builds it once into Go's cache.
ACTIONLINT ?= github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
# Extra arguments of `make down`: DOWN_ARGS=-v also drops the data volumes.
DOWN_ARGS ?=
# Size of a chaos burst (make chaos-malformed CHAOS_COUNT=5000).
CHAOS_COUNT ?= 500
# What `make replay` re-injects: late events are the dead letters a replay
# can heal (make replay REPLAY_ARGS='--reason late_event --since 30m').
REPLAY_ARGS ?= --reason late_event

.PHONY: help build test lint fuzz bench up down logs ps smoke demo e2e replay \
	chaos-malformed chaos-late chaos-stop-producer chaos-start-producer chaos-kill-processor

help: ## list the verbs
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-21s %s\n", $$1, $$2}'

build: ## build the one binary ./streamlab
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

test: ## the fast suite: vet, gofmt, unit + oracle tests, short fuzz runs
	$(MAKE) lint
	$(GO) test -count=1 ./...
	$(MAKE) fuzz

lint: ## go vet, gofmt, actionlint on the CI workflow, shellcheck on the scripts (scripts/, bench/, .ci/run)
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(ACTIONLINT) .github/workflows/*.yml
	@if command -v shellcheck >/dev/null 2>&1; then shellcheck scripts/*.sh scripts/*/*.sh bench/*.sh .ci/run; \
	else echo "shellcheck is not installed: the scripts were not linted (scripts/install-test-deps.sh installs it)"; fi

fuzz: ## run the scanner, parser and pipeline fuzz targets for a fixed number of executions each
	$(GO) test -run '^$$' -fuzz '^FuzzAgainstEncodingJSON$$' -fuzztime $(FUZZ_JSONSCAN) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/jsonscan
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZ_PARSE) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/event
	$(GO) test -run '^$$' -fuzz '^FuzzPipeline$$' -fuzztime $(FUZZ_PIPELINE) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/pipeline
	$(GO) test -run '^$$' -fuzz '^FuzzRestoreParts$$' -fuzztime $(FUZZ_STATE) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/window

bench: ## one core: pipeline and generator (events/s, allocs/event); a 1M-line offline run, and offline vs a naive decode loop on that file (time-ratio)
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./internal/pipeline ./internal/gen
	$(GO) build -o /tmp/streamlab-bench .
	/tmp/streamlab-bench gen --seed 1 --count 1000000 > /tmp/streamlab-bench.jsonl
	GOMAXPROCS=1 /tmp/streamlab-bench process --input /tmp/streamlab-bench.jsonl --aggregates-out /dev/null --dlq-out /dev/null --now 2026-06-01T00:00:00Z
	OFFLINE_BENCH_LOG=/tmp/streamlab-bench.jsonl $(GO) test -run '^$$' -bench OfflineVsNaive -benchtime 2x -cpu 1 ./offline

# --- the docker-compose stack (docker-compose.yml); run.ps1 offers the same verbs on Windows

up: ## build the image, start Kafka, ClickHouse, Grafana, Prometheus, Kafka UI and the services; print the URLs
	@test -f .env || { cp .env.example .env && echo "created .env from .env.example (edit it for your Discord webhook)"; }
	VERSION=$(VERSION) $(COMPOSE) up -d --build
	@echo
	@echo "streamlab is up (make ps shows health, make logs follows the logs):"
	@echo "  Grafana     http://localhost:3000   dashboards open without login; admin password in .env"
	@echo "  Kafka UI    http://localhost:8080"
	@echo "  Prometheus  http://localhost:9090"
	@echo "  ClickHouse  http://localhost:8123/play   user default, password in .env (native: localhost:9000)"
	@echo "  Kafka       localhost:9094 from the host (e.g. go run . producer --brokers localhost:9094)"

down: ## stop the stack (data volumes are kept; make down DOWN_ARGS=-v drops them)
	$(COMPOSE) down $(DOWN_ARGS)

logs: ## follow the logs of every service
	$(COMPOSE) logs -f --tail=100

ps: ## list the services and their health
	$(COMPOSE) ps -a

smoke: ## after make up: every service healthy, dashboards in Grafana, data in ClickHouse and Prometheus, a chaos burst in the DLQ table
	scripts/smoke.sh

demo: ## the whole pipeline in one process with an embedded Kafka: no Docker needed
	$(GO) run . demo

e2e: ## the slow suite: real Kafka broker + chDB, every e2e/chdb-tagged test
	scripts/e2e.sh

chaos-malformed: ## inject CHAOS_COUNT malformed messages into the raw topic (watch the DLQ panel)
	$(COMPOSE) run --rm cli chaos malformed --count $(CHAOS_COUNT)

chaos-late: ## inject CHAOS_COUNT events older than the allowed lateness (late_event dead letters)
	$(COMPOSE) run --rm cli chaos late --count $(CHAOS_COUNT)

chaos-stop-producer: ## stop the producer: windows stop advancing, the stall alert fires
	$(COMPOSE) stop producer

chaos-start-producer: ## start the producer again: the stall alert resolves
	$(COMPOSE) start producer

chaos-kill-processor: ## SIGKILL the processor, then start it: it resumes from its checkpoint, numbers unchanged
	$(COMPOSE) kill -s SIGKILL processor
	@sleep 2
	$(COMPOSE) start processor

replay: ## re-inject late dead letters into the raw topic and watch the numbers heal (REPLAY_ARGS)
	$(COMPOSE) run --rm cli dlq replay $(REPLAY_ARGS)

# --- benchmarks against a real broker (bench/README.md); results go to a temp dir, not the repo
# Settings pass through the environment: make bench-kafka BENCH_EVENTS=100000 BENCH_ROUNDS=1

.PHONY: bench-kafka soak

bench-kafka: ## streamlab processor vs Kafka Streams (ALOS, EOS) on a real broker, interleaved, one core each (BENCH_EVENTS, BENCH_ROUNDS)
	bench/kafka.sh

soak: ## processor soak at 20k events/s of event time: RSS, checkpoint size and time, emissions/s over time (SOAK_DURATION)
	bench/soak.sh
