#!/usr/bin/env bash
# bench/kafka.sh — `streamlab processor` against the Kafka Streams app of bench/kstreams on a
# real single-node Kafka broker, interleaved, each pinned to one core. `make bench-kafka`.
# What it measures and how to read it: bench/README.md.
#
# Environment (defaults in brackets):
#   BENCH_EVENTS [1000000]      messages produced once to the raw topic
#   BENCH_ROUNDS [3]            rounds; each runs every implementation once, in rotated order
#   BENCH_IMPLS ["streamlab ks-alos ks-eos"]
#   BENCH_CPU [1]               core the processors and the naive loop are pinned to
#   BENCH_BROKER_CPU [0]        core the broker is pinned to ("" = not pinned)
#   BENCH_COMMIT_MS [1000]      streamlab --checkpoint-interval and Kafka Streams ALOS commit.interval.ms
#   BENCH_EOS_COMMIT_MS [100]   Kafka Streams EOS commit.interval.ms (its default)
#   BENCH_KS_JAVA_OPTS [-Xmx1g] JVM options of the Kafka Streams app
#   BENCH_OFFLINE_CHECK [20000] lines of the offline preflight (0 = skip it)
#   BENCH_EQUIV [first]         first: compare round 1 of each Kafka Streams mode with streamlab's
#                               round 1; all: every run against streamlab's round 1
#   BENCH_DIR [mktemp -d]       work directory: results.md, runs.jsonl, logs, broker data
#   BENCH_KEEP [0]              1 keeps the broker data and Kafka Streams state after the run
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
EVENTS=${BENCH_EVENTS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
read -r -a IMPLS <<<"${BENCH_IMPLS:-streamlab ks-alos ks-eos}"
CPU=${BENCH_CPU:-1}
BROKER_CPU=${BENCH_BROKER_CPU-0}
COMMIT_MS=${BENCH_COMMIT_MS:-1000}
EOS_COMMIT_MS=${BENCH_EOS_COMMIT_MS:-100}
KS_JAVA_OPTS=${BENCH_KS_JAVA_OPTS:--Xmx1g}
OFFLINE_CHECK=${BENCH_OFFLINE_CHECK:-20000}
EQUIV=${BENCH_EQUIV:-first}
KEEP=${BENCH_KEEP:-0}
WORK=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/streamlab-bench.XXXXXX")}
mkdir -p "$WORK"/{bin,logs,ks-state}
WORK=$(cd "$WORK" && pwd)
RESULTS=$WORK/results.md
RUNS=$WORK/runs.jsonl
NAIVE=$WORK/naive.jsonl
START=2026-01-01T00:00:00Z

log() { printf '\n== %s\n' "$*" >&2; }
die() {
	printf 'bench/kafka.sh: %s\n' "$*" >&2
	exit 1
}

[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_EVENTS=$EVENTS: want a positive integer"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS=$ROUNDS: want a positive integer"
for impl in "${IMPLS[@]}"; do
	case $impl in streamlab | ks-alos | ks-eos) ;; *) die "BENCH_IMPLS: unknown implementation $impl" ;; esac
done
command -v taskset >/dev/null || die "taskset (util-linux) is needed to pin the processes"
ncpu=$(nproc)
((CPU < ncpu)) || die "BENCH_CPU=$CPU but this machine has $ncpu cores"
if [[ -n $BROKER_CPU ]] && ((BROKER_CPU >= ncpu)); then
	die "BENCH_BROKER_CPU=$BROKER_CPU but this machine has $ncpu cores"
fi

KAFKA_DIR=$WORK/kafka
cleanup() {
	local rc=$?
	stop_broker "$KAFKA_DIR"
	if [[ $KEEP != 1 ]]; then
		rm -rf "$KAFKA_DIR/data" "$WORK/ks-state" "$WORK/events.jsonl" "$WORK/offline"
	fi
	if [[ -s $RESULTS ]]; then
		printf '\nresults: %s (runs: %s, logs: %s/logs)\n' "$RESULTS" "$RUNS" "$WORK" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ------------------------------------------------------------------------------
log "building streamlab, benchtool, the naive loop and the Kafka Streams jar"
(cd "$ROOT" && go build -o "$WORK/bin/streamlab" . && go build -o "$WORK/bin/benchtool" ./bench/benchtool &&
	go build -o "$WORK/bin/naive" ./bench/naive)
mvn -q -B -f "$ROOT/bench/kstreams/pom.xml" package
JAR=$ROOT/bench/kstreams/target/streamlab-kstreams.jar
SL=$WORK/bin/streamlab
BT=$WORK/bin/benchtool

{
	echo "## streamlab processor vs Kafka Streams"
	echo
	echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') ($(git -C "$ROOT" branch --show-current 2>/dev/null || echo '?'))"
	echo "- machine: $ncpu cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- $EVENTS events (producer --seed 1 --start $START, default chaos mix), 3 partitions, $ROUNDS round(s) of: ${IMPLS[*]} (order rotated each round) + naive loop"
	echo "- processors pinned to core $CPU, broker to core ${BROKER_CPU:-none}; streamlab --checkpoint-interval ${COMMIT_MS}ms; Kafka Streams ALOS commit.interval.ms=$COMMIT_MS, EOS $EOS_COMMIT_MS; JVM: $KS_JAVA_OPTS; $(java -version 2>&1 | head -n1)"
	echo
} >"$RESULTS"

# --- offline preflight: the two implementations decide the same on a file ------------------
# Three inputs, each run by both with the same --now (every line's record timestamp): the edge
# cases at the wall clock; a chaos-heavy log (5 % skewed events among them) with --now at its
# end; the same log with --now a third of the way in, so that most of it is skewed: the
# watermark cap holds the watermark at --now and the windows after it fire only at the flush.
if ((OFFLINE_CHECK > 0)); then
	log "offline preflight: streamlab process vs the Kafka Streams topology (TopologyTestDriver) on edge cases + $OFFLINE_CHECK chaos-heavy lines (twice)"
	off=$WORK/offline
	mkdir -p "$off"
	chaos_start=2026-01-01T00:00:00Z
	"$SL" gen --seed 7 --count "$OFFLINE_CHECK" --start "$chaos_start" --malformed-ratio 0.4 --oversized-ratio 0.02 \
		--future-ratio 0.05 --too-late-ratio 0.05 --duplicate-ratio 0.05 --allowed-late-ratio 0.05 --skewed-ratio 0.05 >"$off/chaos.jsonl"
	# gen's default event-time density is 200 events/s: the log spans OFFLINE_CHECK/200 seconds.
	span_s=$((OFFLINE_CHECK / 200))
	chaos_end=$(date -u -d "$chaos_start + $((span_s + 1)) seconds" +%Y-%m-%dT%H:%M:%SZ)
	chaos_third=$(date -u -d "$chaos_start + $((span_s / 3)) seconds" +%Y-%m-%dT%H:%M:%SZ)
	offline_ok=1
	preflight() { # preflight NAME INPUT NOW
		local name=$1 input=$2 now=$3 out
		"$SL" process -q --input "$input" --now "$now" --aggregates-out "$off/$name.sl.agg" --dlq-out "$off/$name.sl.dlq"
		java -cp "$JAR" kstreamsbench.Offline "$input" "$now" "$off/$name.ks.agg" "$off/$name.ks.dlq" "$off/state-$name" 2>"$off/$name.ks.log" ||
			die "kstreamsbench.Offline failed on $input: see $off/$name.ks.log"
		if out=$("$BT" offline --a-agg "$off/$name.sl.agg" --a-dlq "$off/$name.sl.dlq" --b-agg "$off/$name.ks.agg" --b-dlq "$off/$name.ks.dlq" 2>&1); then
			echo "- offline preflight, $name ($(wc -l <"$input") lines, --now $now): $out" >>"$RESULTS"
		else
			offline_ok=0
			# shellcheck disable=SC2016 # the backquotes are Markdown, not a command
			printf -- '- offline preflight, %s (--now %s): **DIFFERENT**\n\n```\n%s\n```\n' "$name" "$now" "$out" >>"$RESULTS"
		fi
		echo "$name: $out" >&2
	}
	preflight edge "$ROOT/bench/testdata/edge.jsonl" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	preflight chaos "$off/chaos.jsonl" "$chaos_end"
	preflight chaos-capped "$off/chaos.jsonl" "$chaos_third"
	((offline_ok)) || echo "bench/kafka.sh: WARNING: the offline outputs differ (see $RESULTS); measuring anyway" >&2
	echo >>"$RESULTS"
fi

# --- broker -----------------------------------------------------------------------------
log "starting a Kafka broker in $KAFKA_DIR${BROKER_CPU:+ (pinned to core $BROKER_CPU)}"
start_broker "$KAFKA_DIR" "$BROKER_CPU"
B=$KAFKA_BOOTSTRAP

RUN=bench$(date +%s)
RAW=""
topic_flags() { # topic_flags PREFIX: the per-run output topics, as streamlab flags
	printf -- '--raw-topic\n%s\n--dlq-topic\n%s\n--agg-topic\n%s\n--alerts-topic\n%s\n--state-topic\n%s\n--replays-topic\n%s\n' \
		"$RAW" "$1.dlq" "$1.agg" "$1.alerts" "$1.state" "$1.replays"
}
create_topics() { # create_topics PREFIX
	local flags
	mapfile -t flags < <(topic_flags "$1")
	# Records carry the event clock (2026-01-01...) as timestamp: a 7-day retention would
	# delete them within minutes, so 10 years.
	"$SL" topics create --brokers "$B" --partitions 3 --retention 87600h "${flags[@]}" >/dev/null
}

# Produced once for all runs. A failed producer (the broker unavailable for a moment on a
# stalled machine) may have written part of the log: then a fresh topic gets the whole log.
for attempt in 1 2 3; do
	RAW=$RUN.raw$attempt
	log "producing $EVENTS events to $RAW"
	create_topics "$RUN.produce$attempt"
	if "$SL" producer --brokers "$B" --raw-topic "$RAW" --rate 0 --count "$EVENTS" --seed 1 --start "$START" \
		--metrics-addr "" --log-level warn; then
		break
	fi
	((attempt < 3)) || die "the producer failed three times"
	echo "bench/kafka.sh: the producer failed; producing again to a fresh topic" >&2
done
"$BT" dump --brokers "$B" --topic "$RAW" --out "$WORK/events.jsonl"

# --- rounds -----------------------------------------------------------------------------
run_impl() { # run_impl IMPL ROUND
	local impl=$1 r=$2 prefix group cmd flags
	prefix=$RUN.$impl.r$r
	create_topics "$prefix"
	case $impl in
	streamlab)
		group=$prefix
		mapfile -t flags < <(topic_flags "$prefix")
		cmd=("$SL" processor --brokers "$B" --group "$group" --metrics-addr "" --checkpoint-interval "${COMMIT_MS}ms" "${flags[@]}")
		;;
	ks-alos | ks-eos)
		group=$prefix # application.id = consumer group id
		local g=at_least_once ms=$COMMIT_MS
		if [[ $impl == ks-eos ]]; then g=exactly_once_v2 ms=$EOS_COMMIT_MS; fi
		# shellcheck disable=SC2206 # KS_JAVA_OPTS is deliberately word-split
		cmd=(java $KS_JAVA_OPTS -jar "$JAR" --bootstrap "$B" --app-id "$group" --raw-topic "$RAW"
			--agg-topic "$prefix.agg" --dlq-topic "$prefix.dlq" --guarantee "$g" --commit-interval-ms "$ms"
			--state-dir "$WORK/ks-state/$prefix")
		;;
	esac
	"$BT" run --brokers "$B" --group "$group" --topic "$RAW" --cpu "$CPU" --broker-pid-file "$KAFKA_DIR/kafka.pid" \
		--impl "$impl" --round "$r" --log "$WORK/logs/$prefix.log" --out "$RUNS" -- "${cmd[@]}"
	[[ $KEEP == 1 ]] || rm -rf "$WORK/ks-state/$prefix"
}

: >"$RUNS"
: >"$NAIVE"
LOADS=""
for ((r = 1; r <= ROUNDS; r++)); do
	n=${#IMPLS[@]}
	order=()
	for ((i = 0; i < n; i++)); do order+=("${IMPLS[$(((i + r - 1) % n))]}"); done
	log "round $r of $ROUNDS: ${order[*]} + naive (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	LOADS+="- round $r (${order[*]}, naive): load average $(cut -d' ' -f1-3 /proc/loadavg) at its start"$'\n'
	for impl in "${order[@]}"; do
		run_impl "$impl" "$r"
	done
	out=$(taskset -c "$CPU" "$WORK/bin/naive" "$WORK/events.jsonl")
	echo "naive round $r: $out" >&2
	printf '{"round":%d,%s\n' "$r" "${out#\{}" >>"$NAIVE"
done

# --- report -----------------------------------------------------------------------------
"$BT" report --runs "$RUNS" --naive "$NAIVE" >>"$RESULTS"
{
	printf '%s' "$LOADS"
	echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; this machine has $ncpu cores)"
	echo "- thread names are what Linux keeps (15 characters, digits dropped here): the Kafka Streams stream thread is"
	echo "  named after the application id (\"bench…\"), \"C CompilerThre\" are the JIT compilers, \"kafka-producer-\" the"
	echo "  producer's network thread, \"VM Thread\" GC and safepoints; every thread of the Go binary is \"streamlab\""
	echo
} >>"$RESULTS"

log "equivalence of the final outputs"
ref=$RUN.streamlab.r1
if [[ " ${IMPLS[*]} " == *" streamlab "* ]]; then
	for impl in "${IMPLS[@]}"; do
		for ((r = 1; r <= ROUNDS; r++)); do
			[[ $impl == streamlab && $r == 1 ]] && continue
			[[ $EQUIV != all && ($r != 1 || $impl == streamlab) ]] && continue
			"$BT" equiv --brokers "$B" --events "$EVENTS" \
				--a-name "streamlab (round 1)" --a-agg "$ref.agg" --a-dlq "$ref.dlq" \
				--b-name "$impl (round $r)" --b-agg "$RUN.$impl.r$r.agg" --b-dlq "$RUN.$impl.r$r.dlq" >>"$RESULTS"
		done
	done
else
	echo "(no streamlab run to compare with)" >>"$RESULTS"
fi

cat "$RESULTS"
