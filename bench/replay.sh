#!/usr/bin/env bash
# bench/replay.sh — do streamlab and the Kafka Streams app of bench/kstreams agree on replayed
# dead letters? Not a measurement: an equivalence check on a real broker (bench/README.md).
#
#  1. produces REPLAY_EVENTS messages (default chaos mix) to a raw topic;
#  2. a streamlab processor runs over them once, to fill a DLQ;
#  3. `streamlab dlq replay --reason late_event` writes its late events back to the raw topic
#     (dlq.replay_count=1); then every dead letter is replayed with --force: the late events a
#     second time (replayed duplicates, which change nothing), the others once;
#  4. a fresh streamlab processor and the Kafka Streams app (at_least_once) each process the
#     whole raw topic — original log + both replays — and benchtool equiv compares them: final
#     records, number of emissions, every dead letter by source offset and reason.
#
# The producer's event clock runs at 200 events/s, so 100k events span ~8 minutes of event time
# and the replays come after the end of the log: the replayed late events reach windows past
# their allowed lateness, which only the replay retention (15 min by default) keeps open.
# Replayed records carry the wall clock as timestamp, so a replayed future_event whose clock is
# not ahead of today is valid now, and moves the watermark — the same on both sides.
#
# Environment: REPLAY_EVENTS [100000], REPLAY_DIR [mktemp -d], REPLAY_KEEP [0]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
EVENTS=${REPLAY_EVENTS:-100000}
check_setup replay "${REPLAY_DIR:-}" "${REPLAY_KEEP:-0}" "$EVENTS" REPLAY_EVENTS
run() { # run PREFIX IMPL CMD...: create PREFIX's topics, run CMD until its group committed the end of RAW
	local prefix=$1 impl=$2 flags
	shift 2
	mapfile -t flags < <(topics "$prefix")
	"$SL" topics create --brokers "$B" --partitions 3 --retention 87600h "${flags[@]}" >/dev/null
	"$BT" run --brokers "$B" --group "$prefix" --topic "$RAW" --cpu "" --impl "$impl" --log "$WORK/logs/$prefix.log" -- "$@" >&2
}
sl_flags() { # sl_flags PREFIX
	local t
	mapfile -t t < <(topics "$1")
	printf '%s\n' --brokers "$B" --group "$1" --metrics-addr "" "${t[@]}"
}

mapfile -t f < <(topics "$R.pre")
"$SL" topics create --brokers "$B" --partitions 3 --retention 87600h "${f[@]}" >/dev/null
echo "== producing $EVENTS events to $RAW" >&2
"$SL" producer --brokers "$B" --raw-topic "$RAW" --rate 0 --count "$EVENTS" --seed 1 --start 2026-01-01T00:00:00Z \
	--metrics-addr "" --log-level warn

echo "== a first streamlab run fills the DLQ" >&2
mapfile -t pre < <(sl_flags "$R.pre")
run "$R.pre" streamlab "$SL" processor "${pre[@]}"
echo "== replaying the late events, then every dead letter" >&2
replay=(dlq replay --brokers "$B" --group "$R.pre" -q "${f[@]}")
"$SL" "${replay[@]}" --reason late_event >"$WORK/logs/replay1.log" 2>&1
"$SL" "${replay[@]}" --force >"$WORK/logs/replay2.log" 2>&1
"$BT" dump --brokers "$B" --topic "$RAW" --out "$WORK/raw.jsonl"
total=$(wc -l <"$WORK/raw.jsonl")
rm -f "$WORK/raw.jsonl"

echo "== streamlab and Kafka Streams on the log with its replays ($total records)" >&2
mapfile -t sl < <(sl_flags "$R.sl")
run "$R.sl" streamlab "$SL" processor "${sl[@]}"
run "$R.ks" ks-alos java -Xmx1g -jar "$JAR" --bootstrap "$B" --app-id "$R.ks" --raw-topic "$RAW" \
	--agg-topic "$R.ks.agg" --dlq-topic "$R.ks.dlq" --state-dir "$WORK/ks-state"

{
	echo "## Replayed dead letters: streamlab vs Kafka Streams"
	echo
	echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); $EVENTS events (producer --seed 1, default chaos mix), then a first streamlab run's late_event dead letters replayed, then all its dead letters (--force): $total records on the raw topic"
	echo "- replay 1 (late_event): $(tail -n 1 "$WORK/logs/replay1.log")"
	echo "- replay 2 (all, --force): $(tail -n 1 "$WORK/logs/replay2.log")"
	echo "- conservation is not checked: a replayed duplicate changes nothing, so no output shows it"
	echo
	"$BT" equiv --brokers "$B" --events 0 --a-name streamlab --a-agg "$R.sl.agg" --a-dlq "$R.sl.dlq" \
		--b-name "Kafka Streams (at_least_once)" --b-agg "$R.ks.agg" --b-dlq "$R.ks.dlq"
	echo "For scale, the first run (no replays):"
	echo
	"$BT" equiv --brokers "$B" --events 0 --a-name "first run" --a-agg "$R.pre.agg" --a-dlq "$R.pre.dlq" \
		--b-name "streamlab with replays" --b-agg "$R.sl.agg" --b-dlq "$R.sl.dlq" | grep -E '^- (aggregate|dead letters by reason)'
	echo
} >"$OUT"
cat "$OUT"
