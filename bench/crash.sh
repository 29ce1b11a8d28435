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
check_setup crash "${CRASH_DIR:-}" "${CRASH_KEEP:-0}" "$EVENTS" CRASH_EVENTS
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
