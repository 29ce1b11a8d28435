# shellcheck shell=bash
# bench/lib.sh — shared by the bench/ scripts (sourced; expects $ROOT).

# start_broker DIR CPU: a broker from scripts/kafka/kafka.sh in DIR, pinned to core CPU when
# CPU is set; sets KAFKA_BOOTSTRAP. The broker is started once so that kafka.sh writes its
# configuration, then restarted (same ports, same data) with a longer broker session timeout:
# on a machine shared with other heavy jobs a single KRaft node can stall for several seconds,
# miss its 9 s session and fence itself, and then every partition is without a leader until it
# registers again (seen here at a load average of 50 on 2 cores).
start_broker() {
	local dir=$1 cpu=$2 pin=()
	[[ -n $cpu ]] && pin=(taskset -c "$cpu")
	mkdir -p "$dir"
	"${pin[@]}" "$ROOT/scripts/kafka/kafka.sh" start --dir "$dir" >/dev/null
	"$ROOT/scripts/kafka/kafka.sh" stop --dir "$dir"
	cat >>"$dir/server.properties" <<'PROPS'

# Added by bench/lib.sh: survive multi-second stalls of a loaded machine.
broker.session.timeout.ms=60000
PROPS
	eval "$("${pin[@]}" "$ROOT/scripts/kafka/kafka.sh" start --dir "$dir")"
}

# stop_broker DIR: stop the broker started in DIR, if any.
stop_broker() {
	if [[ -f $1/kafka.pid ]]; then
		"$ROOT/scripts/kafka/kafka.sh" stop --dir "$1" || true
	fi
}

# go_seconds DURATION: whole seconds of a Go duration made of h, m and s parts (10m, 1h30m, 90s).
go_seconds() {
	local d=$1 total=0 n u
	while [[ $d =~ ^([0-9]+)(h|m|s)(.*)$ ]]; do
		n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
		case $u in h) total=$((total + n * 3600)) ;; m) total=$((total + n * 60)) ;; s) total=$((total + n)) ;; esac
	done
	[[ -z $d && $total -gt 0 ]] || {
		echo "not a duration of whole h/m/s parts: $1" >&2
		return 1
	}
	echo "$total"
}

# check_setup NAME DIR KEEP EVENTS VAR: the start of the equivalence checks (crash.sh, replay.sh).
# Requires EVENTS (from the environment variable VAR) to be a positive integer; makes the work
# directory DIR (a fresh /tmp/streamlab-NAME.* when empty) with bin/, logs/ and ks-state/ and sets
# WORK, OUT=$WORK/NAME.md and KAFKA_DIR; on exit stops the broker, drops its data and the Kafka
# Streams state unless KEEP=1, and says where the report is; builds streamlab, benchtool and the
# Kafka Streams jar (SL, BT, JAR); starts a broker (B) and picks the run's raw topic (R, RAW).
# shellcheck disable=SC2034 # sets globals for the script that sources this file
check_setup() {
	local name=$1 dir=$2
	CHECK_KEEP=$3
	[[ $4 =~ ^[1-9][0-9]*$ ]] || {
		echo "bench/$name.sh: $5=$4: want a positive integer" >&2
		exit 1
	}
	WORK=${dir:-$(mktemp -d "${TMPDIR:-/tmp}/streamlab-$name.XXXXXX")}
	mkdir -p "$WORK"/{bin,logs,ks-state}
	WORK=$(cd "$WORK" && pwd)
	OUT=$WORK/$name.md
	KAFKA_DIR=$WORK/kafka
	trap check_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	echo "== building streamlab, benchtool and the Kafka Streams jar" >&2
	(cd "$ROOT" && go build -o "$WORK/bin/streamlab" . && go build -o "$WORK/bin/benchtool" ./bench/benchtool)
	mvn -q -B -f "$ROOT/bench/kstreams/pom.xml" package
	JAR=$ROOT/bench/kstreams/target/streamlab-kstreams.jar
	SL=$WORK/bin/streamlab
	BT=$WORK/bin/benchtool

	echo "== starting a Kafka broker in $KAFKA_DIR" >&2
	start_broker "$KAFKA_DIR" ""
	B=$KAFKA_BOOTSTRAP
	R=$name$(date +%s)
	RAW=$R.raw
}

check_cleanup() {
	local rc=$?
	stop_broker "$KAFKA_DIR"
	[[ $CHECK_KEEP == 1 ]] || rm -rf "$KAFKA_DIR/data" "$WORK/ks-state"
	[[ -s $OUT ]] && printf '\nresults: %s (logs in %s/logs)\n' "$OUT" "$WORK" >&2
	exit "$rc"
}

# topics PREFIX: the streamlab flags of a run's topics (one per line), raw = $RAW.
topics() {
	printf -- '--raw-topic\n%s\n--dlq-topic\n%s\n--agg-topic\n%s\n--alerts-topic\n%s\n--state-topic\n%s\n--replays-topic\n%s\n' \
		"$RAW" "$1.dlq" "$1.agg" "$1.alerts" "$1.state" "$1.replays"
}
