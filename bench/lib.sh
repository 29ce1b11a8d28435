# shellcheck shell=bash
# bench/lib.sh — shared by bench/kafka.sh and bench/soak.sh (sourced; expects $ROOT).

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
