#!/usr/bin/env bash
# bench/soak.sh — `streamlab processor` under a sustained event-time density of 20k events/s
# (3 partitions) for 10 minutes on a real broker: RSS, checkpoint size and time, emissions/s
# and events/s every 10 s, and a verdict on RSS flatness. `make soak`. See bench/README.md.
#
# Environment (defaults in brackets):
#   SOAK_DURATION [10m]   how long the producer runs and the sampler samples (Go duration)
#   SOAK_RATE [20000]     producer messages per second (--rate; the event clock then follows the
#                         wall clock, so this is also the event-time density)
#   SOAK_INTERVAL [10s]   sampling interval
#   SOAK_CPU [1]          core the processor is pinned to ("" = not pinned)
#   SOAK_BROKER_CPU [0]   core the broker is pinned to ("" = not pinned)
#   SOAK_DIR [mktemp -d]  work directory: soak.md, logs, broker data (removed unless SOAK_KEEP=1)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DURATION=${SOAK_DURATION:-10m}
RATE=${SOAK_RATE:-20000}
INTERVAL=${SOAK_INTERVAL:-10s}
CPU=${SOAK_CPU-1}
BROKER_CPU=${SOAK_BROKER_CPU-0}
KEEP=${SOAK_KEEP:-0}
WORK=${SOAK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/streamlab-soak.XXXXXX")}
mkdir -p "$WORK/bin"
WORK=$(cd "$WORK" && pwd)
OUT=$WORK/soak.md
KAFKA_DIR=$WORK/kafka

die() {
	printf 'bench/soak.sh: %s\n' "$*" >&2
	exit 1
}
go_seconds "$DURATION" >/dev/null || die "SOAK_DURATION=$DURATION: want a Go duration of whole h, m and s parts, like 10m or 90s"

PROC_PID="" PROD_PID=""
stop_pid() { # stop_pid PID: TERM, then KILL after 60 s; only a process this script started
	local pid=$1 i
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
	local rc=$?
	[[ -f $WORK/producer.pid ]] && stop_pid "$(cat "$WORK/producer.pid")"
	stop_pid "$PROD_PID"
	stop_pid "$PROC_PID"
	stop_broker "$KAFKA_DIR"
	[[ $KEEP == 1 ]] || rm -rf "$KAFKA_DIR/data"
	[[ -s $OUT ]] && printf '\nresults: %s (logs in %s)\n' "$OUT" "$WORK" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building streamlab and benchtool" >&2
(cd "$ROOT" && go build -o "$WORK/bin/streamlab" . && go build -o "$WORK/bin/benchtool" ./bench/benchtool)
SL=$WORK/bin/streamlab

# Metric names come from processor/metrics.go, so a rename there is followed; a series that
# is gone shows as n/a in the table.
metric() { # metric REGEX DEFAULT
	local m
	m=$(grep -o 'Name: *"streamlab_processor_[a-z_]*"' "$ROOT/processor/metrics.go" 2>/dev/null |
		sed 's/.*"\(.*\)"/\1/' | grep -E "$1" | head -n1 || true)
	printf '%s\n' "${m:-$2}"
}
M_MESSAGES=$(metric 'messages_total$' streamlab_processor_messages_total)
M_EMISSIONS=$(metric 'emissions' streamlab_processor_emissions_total)
M_CPBYTES=$(metric 'checkpoint.*bytes' streamlab_processor_checkpoint_bytes)
M_CPDUR=$(metric 'checkpoint.*(duration|seconds)' streamlab_processor_checkpoint_duration_seconds)
M_WINDOWS=$(metric 'open_windows' streamlab_processor_open_windows)
M_LAG=$(metric 'consumer_lag' streamlab_processor_consumer_lag_messages)
M_WMLAG=$(metric 'watermark_lag' streamlab_processor_watermark_lag_seconds)
# Seconds of the partition workers by activity (fetch_wait, process, output_wait, checkpoint):
# only processors that have it; without it the table has no backpressure columns.
M_TIME=$(metric 'time_seconds_total$' "")
TIME_NOTE=""
[[ -z $M_TIME ]] || TIME_NOTE=", $M_TIME (share of the workers' time in each interval by activity: fetch_wait = waiting on input, output_wait = waiting on output acknowledgements, checkpoint)"

echo "== starting a Kafka broker in $KAFKA_DIR" >&2
start_broker "$KAFKA_DIR" "$BROKER_CPU"
B=$KAFKA_BOOTSTRAP

P=soak$(date +%s)
flags=(--raw-topic "$P.raw" --dlq-topic "$P.dlq" --agg-topic "$P.agg" --alerts-topic "$P.alerts"
	--state-topic "$P.state" --replays-topic "$P.replays")
"$SL" topics create --brokers "$B" --partitions 3 "${flags[@]}" >/dev/null

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for ((i = 0; i < 100; i++)); do
	p=$((20000 + RANDOM % 12000))
	port_in_use "$p" || {
		PORT=$p
		break
	}
done
[[ -n $PORT ]] || die "no free port for the processor's metrics"

pin=()
[[ -n $CPU ]] && pin=(taskset -c "$CPU")
# Window settings are the defaults: 1-minute windows, 5 s out-of-orderness, 2-minute lateness,
# 15-minute replay retention.
"${pin[@]}" "$SL" processor --brokers "$B" --group "$P" --metrics-addr "127.0.0.1:$PORT" "${flags[@]}" \
	>"$WORK/processor.log" 2>&1 &
PROC_PID=$!
for ((i = 0; i < 300; i++)); do
	port_in_use "$PORT" && break
	kill -0 "$PROC_PID" 2>/dev/null || die "the processor exited: $(tail -n 20 "$WORK/processor.log")"
	sleep 0.1
done

# The producer runs until the deadline; if the broker fails it (a stalled machine), it is
# started again for the time left, and the restarts are reported.
DUR_S=$(go_seconds "$DURATION")
(
	end=$((SECONDS + DUR_S))
	while ((SECONDS < end)); do
		"$SL" producer --brokers "$B" --raw-topic "$P.raw" --rate "$RATE" --start now \
			--duration "$((end - SECONDS))s" --metrics-addr "" >>"$WORK/producer.log" 2>&1 &
		echo $! >"$WORK/producer.pid"
		rc=0
		wait $! || rc=$?
		((rc != 0)) || break
		if ((rc == 2)); then # a usage error: no restart fixes it
			echo "bench/soak.sh: the producer refused its flags; see above" >>"$WORK/producer.log"
			break
		fi
		echo "bench/soak.sh: producer failed, restarting" >>"$WORK/producer.log"
		sleep 1
	done
) &
PROD_PID=$!
# A producer that refuses its flags exits at once: say so rather than sample an idle processor.
for ((i = 0; i < 50; i++)); do
	grep -q 'refused its flags' "$WORK/producer.log" 2>/dev/null && die "the producer refused its flags: $(head -n 3 "$WORK/producer.log")"
	sleep 0.1
done

{
	echo "## streamlab processor soak"
	echo
	echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); $(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- producer: --rate $RATE --start now for $DURATION (3 partitions, default chaos mix); processor pinned to core ${CPU:-none}, broker to core ${BROKER_CPU:-none}; default window settings"
	echo "- series: $M_MESSAGES, $M_EMISSIONS, $M_CPBYTES (mean over partitions), $M_CPDUR (mean of the checkpoints in each interval, their count in parentheses), $M_WINDOWS (sum over partitions), $M_LAG (sum), $M_WMLAG (mean)$TIME_NOTE"
	echo
} >"$OUT"
"$WORK/bin/benchtool" soak --metrics "http://127.0.0.1:$PORT/metrics" --pid "$PROC_PID" --interval "$INTERVAL" \
	--duration "$DURATION" --messages "$M_MESSAGES" --emissions "$M_EMISSIONS" --checkpoint-bytes "$M_CPBYTES" \
	--checkpoint-duration "$M_CPDUR" --open-windows "$M_WINDOWS" --lag "$M_LAG" --watermark-lag "$M_WMLAG" --time "$M_TIME" \
	--plateau "$((60 + 120 + 900 + 5))s" --out "$WORK/table.md" # the default window settings, used above
cat "$WORK/table.md" >>"$OUT"

wait "$PROD_PID" || true
PROD_PID=""
produced=$(sed -n 's/.*produced \([0-9]*\) messages in.*/\1/p' "$WORK/producer.log" | awk '{s += $1} END {print s + 0}')
restarts=$(grep -c 'producer failed, restarting' "$WORK/producer.log" || true)
echo "- producer: $produced messages in $DURATION ($((produced / DUR_S))/s on average); restarted after a failure: $restarts time(s)" >>"$OUT"
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT"
stop_pid "$PROC_PID"
PROC_PID=""
echo >&2
cat "$OUT"
