#!/usr/bin/env bash
# The slow suite (`make e2e`): every test, including those behind the `e2e`
# and `chdb` build tags, against a real Apache Kafka broker (KRaft, started
# here from scripts/kafka, no Docker) and the real ClickHouse engine (chDB's
# libchdb.so, installed into the cache by scripts/chdb/install.sh).
#
# Tagged tests find the broker in $KAFKA_BOOTSTRAP (and its directory, for
# restart drills, in $KAFKA_DIR) and the library in $STREAMLAB_LIBCHDB. The
# untagged tests run again too: the tags only add files to a package.
#
# Needs Java 17+ and Maven (Kafka, first run only), npm (chDB, first run
# only, ~570 MB) and Go. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export STREAMLAB_CACHE="${STREAMLAB_CACHE:-$HOME/.cache/streamlab}"
TIMEOUT="${E2E_TIMEOUT:-60m}"

log() { printf 'e2e: %s\n' "$*" >&2; }

# Which packages have tagged tests, so the log says what this run adds to
# `make test` and an empty list is an error rather than a silent no-op.
mapfile -t tagged < <(grep -rlE --include='*_test.go' '^//go:build .*\b(e2e|chdb)\b' . | xargs -r -n1 dirname | sort -u)
if ((${#tagged[@]} == 0)); then
	log "no test file carries the e2e or chdb build tag: nothing end-to-end to run"
	exit 1
fi
log "packages with e2e/chdb-tagged tests:"
printf '  %s\n' "${tagged[@]}" >&2

# chDB first: it is the long download, and the broker would idle meanwhile.
# An assignment keeps the installer's exit status (eval "$(...)" would not).
chdb_env=$(scripts/chdb/install.sh)
eval "$chdb_env"
export STREAMLAB_LIBCHDB
log "chDB: $STREAMLAB_LIBCHDB"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/streamlab-e2e.XXXXXX")
stop_kafka() {
	local rc=$?
	scripts/kafka/kafka.sh stop --dir "$DIR" >/dev/null 2>&1 || log "could not stop the broker in $DIR"
	if ((rc == 0)); then
		rm -rf "$DIR"
	else
		log "broker files kept for inspection in $DIR (kafka.log, kafka.out)"
	fi
	exit "$rc"
}
trap stop_kafka EXIT
kafka_env=$(scripts/kafka/kafka.sh start --dir "$DIR")
eval "$kafka_env"
export KAFKA_DIR KAFKA_BOOTSTRAP
log "Kafka: $KAFKA_BOOTSTRAP ($KAFKA_DIR)"

log "go test -tags 'e2e chdb' -count=1 -timeout $TIMEOUT ./..."
go test -tags 'e2e chdb' -count=1 -timeout "$TIMEOUT" ./...
log "all tests passed"
