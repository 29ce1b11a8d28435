#!/usr/bin/env bash
# bench/crash.sh — does the Kafka Streams app of bench/kstreams continue the same coalescing
# ranges and revisions after a crash? Not a measurement: an equivalence check on a real broker
# (bench/README.md, "Semantic differences that remain").
#
#  1. produces CRASH_EVENTS messages (default chaos mix) to a raw topic;
#  2. an uninterrupted streamlab processor gives the reference output;
#  3. the Kafka Streams app (CRASH_GUARANTEE) is SIGKILLed once its group has committed ~43 %
#     of the log, started again on its state directory, SIGKILLed at ~73 %, started again with
#     the state directory wiped (so it restores from the changelogs, win store range end and
#     dirty flags included), and run to the end;
#  4. benchtool equiv compares its final records (revision included: a range that continued
#     differently after a restore would publish other revisions), dead letters and conservation
#     with streamlab's. Kafka Streams' aborted transactions stay in its topics (kafka-go cannot
#     filter them); equiv flags them, and the number of aggregate records then counts them too.
#
# Environment: CRASH_EVENTS [300000], CRASH_GUARANTEE [exactly_once_v2], CRASH_DIR [mktemp -d],
# CRASH_KEEP [0]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
EVENTS=${CRASH_EVENTS:-300000}
GUARANTEE=${CRASH_GUARANTEE:-exactly_once_v2}
KEEP=${CRASH_KEEP:-0}
WORK=${CRASH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/streamlab-crash.XXXXXX")}
mkdir -p "$WORK"/{bin,logs,ks-state}
WORK=$(cd "$WORK" && pwd)
OUT=$WORK/crash.md
KAFKA_DIR=$WORK/kafka

[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || {
	echo "bench/crash.sh: CRASH_EVENTS=$EVENTS: want a positive integer" >&2
	exit 1
}
cleanup() {
	local rc=$?
	stop_broker "$KAFKA_DIR"
	[[ $KEEP == 1 ]] || rm -rf "$KAFKA_DIR/data" "$WORK/ks-state"
	[[ -s $OUT ]] && printf '\nresults: %s (logs in %s/logs)\n' "$OUT" "$WORK" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building streamlab, benchtool and the Kafka Streams jar" >&2
(cd "$ROOT" && go build -o "$WORK/bin/streamlab" . && go build -o "$WORK/bin/benchtool" ./bench/benchtool)
mvn -q -B -f "$ROOT/bench/kstreams/pom.xml" package
JAR=$ROOT/bench/kstreams/target/streamlab-kstreams.jar
SL=$WORK/bin/streamlab
BT=$WORK/bin/benchtool

echo "== starting a Kafka broker in $KAFKA_DIR" >&2
start_broker "$KAFKA_DIR" ""
B=$KAFKA_BOOTSTRAP
R=crash$(date +%s)
RAW=$R.raw
topics() { # topics PREFIX: the streamlab flags of a run's topics
	printf -- '--raw-topic\n%s\n--dlq-topic\n%s\n--agg-topic\n%s\n--alerts-topic\n%s\n--state-topic\n%s\n--replays-topic\n%s\n' \
		"$RAW" "$1.dlq" "$1.agg" "$1.alerts" "$1.state" "$1.replays"
}
create() { # create PREFIX
	local t
	mapfile -t t < <(topics "$1")
	"$SL" topics create --brokers "$B" --partitions 3 --retention 87600h "${t[@]}" >/dev/null
}

create "$R.sl"
create "$R.ks"
echo "== producing $EVENTS events to $RAW" >&2
"$SL" producer --brokers "$B" --raw-topic "$RAW" --rate 0 --count "$EVENTS" --seed 1 --start 2026-01-01T00:00:00Z \
	--metrics-addr "" --log-level warn

echo "== streamlab, uninterrupted" >&2
mapfile -t t < <(topics "$R.sl")
"$BT" run --brokers "$B" --group "$R.sl" --topic "$RAW" --cpu "" --impl streamlab --log "$WORK/logs/streamlab.log" -- \
	"$SL" processor --brokers "$B" --group "$R.sl" --metrics-addr "" "${t[@]}"

ks=(java -Xmx1g -jar "$JAR" --bootstrap "$B" --app-id "$R.ks" --raw-topic "$RAW" --agg-topic "$R.ks.agg"
	--dlq-topic "$R.ks.dlq" --guarantee "$GUARANTEE" --state-dir "$WORK/ks-state")
ksrun() { # ksrun LOG [--kill-at N]
	local log=$1
	shift
	"$BT" run --brokers "$B" --group "$R.ks" --topic "$RAW" --cpu "" --impl "ks-$GUARANTEE" --log "$WORK/logs/$log" "$@" -- "${ks[@]}"
}
echo "== Kafka Streams ($GUARANTEE): SIGKILL at ~43 %, restart, SIGKILL at ~73 %, wipe the state directory, run to the end" >&2
kill1=$((EVENTS * 43 / 100)) kill2=$((EVENTS * 73 / 100))
ksrun ks-1.log --kill-at "$kill1" 2>&1 | tee "$WORK/logs/kills.log" >&2
ksrun ks-2.log --kill-at "$kill2" 2>&1 | tee -a "$WORK/logs/kills.log" >&2
rm -rf "$WORK/ks-state"
ksrun ks-3.log

{
	echo "## Kafka Streams ($GUARANTEE) after two crashes vs streamlab uninterrupted"
	echo
	echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); $EVENTS events (producer --seed 1, default chaos mix)"
	sed 's/^benchtool: /- /' "$WORK/logs/kills.log"
	echo "- then restarted with its state directory wiped (restore from the changelogs) and run to the end"
	echo
	"$BT" equiv --brokers "$B" --events "$EVENTS" --a-name streamlab --a-agg "$R.sl.agg" --a-dlq "$R.sl.dlq" \
		--b-name "Kafka Streams ($GUARANTEE, 2 crashes)" --b-agg "$R.ks.agg" --b-dlq "$R.ks.dlq"
} >"$OUT"
cat "$OUT"
