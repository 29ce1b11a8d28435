#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker+controller) on 127.0.0.1
# for tests and `make e2e`, needing only Java 17+ and Maven. See README.md beside this file.
#
#   kafka.sh fetch                      download the broker jars once into the cache
#   kafka.sh start   [--dir DIR]        start a broker; prints KAFKA_DIR=... and KAFKA_BOOTSTRAP=...
#   kafka.sh stop    [--dir DIR]        stop the broker started in DIR (data is kept)
#   kafka.sh restart [--dir DIR]        stop, then start again on the same ports and data
#   kafka.sh status  [--dir DIR]        cache state, and the broker's when DIR is known
#   kafka.sh run     CLASS [ARGS...]    run a Kafka tool class (TopicCommand, ConsoleProducer, ...)
#
# Only KEY=VALUE lines go to stdout (so `eval "$(kafka.sh start)"` works); progress and
# errors go to stderr.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM="$SCRIPT_DIR/pom.xml"

# The pom is the single source of the version; KAFKA_VERSION overrides it for one-off tries.
pom_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)
KAFKA_VERSION=${KAFKA_VERSION:-$pom_version}
CACHE_ROOT=${STREAMLAB_CACHE:-$HOME/.cache/streamlab}
KAFKA_HOME="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
MARKER="$KAFKA_HOME/.complete"
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

java_bin() {
	if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
		printf '%s\n' "$JAVA_HOME/bin/java"
	elif command -v java >/dev/null 2>&1; then
		command -v java
	else
		die "java not found: Kafka $KAFKA_VERSION needs Java 17+ (set JAVA_HOME or put java on PATH)"
	fi
}

check_java() {
	local java version major
	java=$(java_bin)
	version=$("$java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)
	major=${version%%.*}
	[[ $major == 1 ]] && major=$(cut -d. -f2 <<<"$version")
	if [[ ! $major =~ ^[0-9]+$ ]] || ((major < 17)); then
		die "Kafka $KAFKA_VERSION brokers need Java 17+, found '${version:-unknown}' at $java"
	fi
}

# The marker records what the cache was built from, so editing the pom (another Kafka or
# log4j version, an extra jar) refetches instead of silently running stale jars.
cache_key() {
	printf '%s %s\n' "$KAFKA_VERSION" "$(cksum <"$POM" | cut -d' ' -f1,2)"
}

cache_complete() {
	[[ -f $MARKER && -d $LIBS ]] && [[ "$(cat "$MARKER")" == "$(cache_key)" ]]
}

# tools_log4j prints the path of a log4j2 config that sends Kafka tools' warnings to stderr
# (like the distribution's tools-log4j2.yaml); without one log4j2 complains on every run.
tools_log4j() {
	local cfg="$KAFKA_HOME/tools-log4j2.properties"
	if [[ ! -f $cfg ]]; then
		mkdir -p "$KAFKA_HOME"
		printf '%s\n' 'appender.err.type=Console' 'appender.err.name=err' 'appender.err.target=SYSTEM_ERR' \
			'appender.err.layout.type=PatternLayout' 'appender.err.layout.pattern=[%d] %p %m (%c)%n' \
			'rootLogger.level=WARN' 'rootLogger.appenderRef.err.ref=err' >"$cfg.$$"
		mv -f "$cfg.$$" "$cfg"
	fi
	printf '%s\n' "$cfg"
}

cmd_fetch() {
	if cache_complete; then
		return 0
	fi
	mkdir -p "$KAFKA_HOME"
	# Two test processes may fetch at once; flock (Linux) serialises them. Without it the
	# rename below still keeps each libs/ directory whole.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$KAFKA_HOME/.lock"
		flock 9
		if cache_complete; then
			exec 9>&-
			return 0
		fi
	fi
	command -v mvn >/dev/null 2>&1 || die "mvn not found: it is needed once to download Kafka $KAFKA_VERSION into $LIBS"
	log "fetching Kafka $KAFKA_VERSION jars into $LIBS (one-off)"
	local tmp
	tmp=$(mktemp -d "$KAFKA_HOME/libs.tmp.XXXXXX")
	# Maven's output is kept aside and shown only on failure: -q still leaves colour codes.
	if ! mvn -B -q -Dstyle.color=never -f "$POM" \
		-Dkafka.version="$KAFKA_VERSION" \
		dependency:copy-dependencies \
		-DoutputDirectory="$tmp" -DincludeScope=runtime >"$tmp.log" 2>&1; then
		cat "$tmp.log" >&2
		rm -rf "$tmp" "$tmp.log"
		die "maven could not download Kafka $KAFKA_VERSION (see above)"
	fi
	rm -f "$tmp.log"
	ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || {
		rm -rf "$tmp"
		die "maven finished but kafka_2.13 is missing from the classpath"
	}
	rm -f "$MARKER"
	rm -rf "$LIBS"
	mv "$tmp" "$LIBS"
	cache_key >"$MARKER"
	if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
	log "cached $(du -sh "$LIBS" | cut -f1) in $LIBS"
}

# parse_dir sets DIR from --dir, else from $KAFKA_DIR; REST gets the remaining args.
DIR=""
REST=()
parse_dir() {
	DIR=${KAFKA_DIR:-}
	REST=()
	while (($#)); do
		case $1 in
		--dir)
			[[ $# -ge 2 ]] || die "--dir needs a value"
			DIR=$2
			shift 2
			;;
		--dir=*)
			DIR=${1#--dir=}
			shift
			;;
		*)
			REST+=("$1")
			shift
			;;
		esac
	done
}

require_dir() {
	[[ -n $DIR ]] || die "which broker? pass --dir DIR or set KAFKA_DIR"
	[[ -d $DIR ]] || die "no such directory: $DIR"
	DIR=$(cd "$DIR" && pwd)
}

port_in_use() {
	# A successful connect means something listens there; bash's /dev/tcp needs no extra tools.
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Ports come from 20000-32767, below Linux's ephemeral range (32768-60999), so an
# outgoing connection is unlikely to be holding one when a restart needs it back.
pick_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
		if [[ " ${*:-} " != *" $p "* ]] && ! port_in_use "$p"; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	die "no free port found on 127.0.0.1"
}

prop() { sed -n "s/^$1=//p" "$DIR/server.properties" | head -n1; }
broker_port() { prop listeners | sed -n 's/.*PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p'; }

# Random base64url of 16 bytes: the same form as `kafka-storage random-uuid`, without a JVM.
new_cluster_id() {
	head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

write_config() {
	local bport cport
	bport=$(pick_port)
	cport=$(pick_port "$bport")
	mkdir -p "$DIR/data"
	cat >"$DIR/server.properties" <<EOF
# Written by scripts/kafka/kafka.sh: one KRaft node that is both broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data

num.partitions=3
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0

# A single node cannot hold more replicas than one; fewer internal partitions also make
# the first consumer group and transaction start faster on a small machine.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=5

num.network.threads=2
num.io.threads=4
EOF
	cat >"$DIR/log4j2.properties" <<EOF
# Broker log: warnings only, plus the one line that says the server started.
appender.file.type=File
appender.file.name=file
appender.file.fileName=$DIR/kafka.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=file
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=INFO
EOF
}

format_storage() {
	[[ -f $DIR/data/meta.properties ]] && return 0
	"$(java_bin)" -Dlog4j2.configurationFile="$(tools_log4j)" -cp "$LIBS/*" \
		kafka.tools.StorageTool format --cluster-id "$(new_cluster_id)" \
		--config "$DIR/server.properties" >"$DIR/format.out" 2>&1 || {
		cat "$DIR/format.out" >&2
		die "formatting the storage in $DIR/data failed"
	}
}

# is_our_broker PID: true only when PID is a live kafka.Kafka started with DIR's config, so
# a stale pid file whose number was reused never makes us signal someone else's process.
is_our_broker() {
	local pid=$1 args
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	args=$(ps -p "$pid" -o args= 2>/dev/null) || return 1
	[[ $args == *kafka.Kafka* && $args == *"$DIR/server.properties"* ]]
}

running_pid() {
	local pid
	[[ -f $DIR/kafka.pid ]] || return 1
	pid=$(cat "$DIR/kafka.pid")
	is_our_broker "$pid" || return 1
	printf '%s\n' "$pid"
}

# tool_java runs a short-lived Kafka tool; C1-only JIT and a small serial heap start faster.
tool_java() {
	"$(java_bin)" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
		-Dlog4j2.configurationFile="$(tools_log4j)" -cp "$LIBS/*" "$@"
}

fail_start() {
	local pid=${1:-}
	log "broker in $DIR did not become ready: $2"
	if [[ -f $DIR/kafka.log ]]; then
		log "--- tail of $DIR/kafka.log"
		tail -n 40 "$DIR/kafka.log" >&2
	fi
	if [[ -s $DIR/kafka.out ]]; then
		log "--- tail of $DIR/kafka.out"
		tail -n 40 "$DIR/kafka.out" >&2
	fi
	if [[ -n $pid ]] && is_our_broker "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$DIR/kafka.pid"
	exit 1
}

cmd_start() {
	parse_dir "$@"
	((${#REST[@]} == 0)) || die "start: unexpected arguments: ${REST[*]}"
	check_java
	cmd_fetch
	if [[ -z $DIR ]]; then
		DIR=$(mktemp -d "${TMPDIR:-/tmp}/streamlab-kafka.XXXXXX")
	fi
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)

	local pid
	if pid=$(running_pid); then
		log "broker already running in $DIR (pid $pid)"
		printf 'KAFKA_DIR=%q\nKAFKA_BOOTSTRAP=%s\n' "$DIR" "$(cat "$DIR/bootstrap")"
		return 0
	fi
	rm -f "$DIR/kafka.pid" "$DIR/bootstrap"
	# An existing config means existing data: reuse it (same ports, same cluster id).
	if [[ ! -f $DIR/server.properties ]]; then
		write_config
	fi
	format_storage

	local port bootstrap
	port=$(broker_port)
	[[ -n $port ]] || die "cannot read the broker port from $DIR/server.properties"
	bootstrap="127.0.0.1:$port"
	if port_in_use "$port"; then
		die "port $port (from $DIR/server.properties) is already taken by another process"
	fi

	local t0=$SECONDS
	: >"$DIR/kafka.out"
	# nohup execs java, so $! is the broker's own pid. stdin/stdout/stderr are detached so
	# that a caller reading our output (Go's exec.Cmd, $(...)) is not held open by the broker.
	# shellcheck disable=SC2086 # HEAP_OPTS / KAFKA_JVM_OPTS are deliberately word-split.
	nohup "$(java_bin)" $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$DIR/log4j2.properties" ${KAFKA_JVM_OPTS:-} \
		-cp "$LIBS/*" kafka.Kafka "$DIR/server.properties" \
		</dev/null >>"$DIR/kafka.out" 2>&1 &
	pid=$!
	printf '%s\n' "$pid" >"$DIR/kafka.pid"

	# Ready means a real Kafka request (a metadata call listing topics) is answered; the
	# open-port check before it only saves starting a JVM while the broker is still booting.
	# Short client timeouts keep one probe from outliving the deadline.
	printf '%s\n' 'request.timeout.ms=5000' 'default.api.timeout.ms=10000' >"$DIR/probe.properties"
	local deadline=$((SECONDS + START_TIMEOUT))
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			fail_start "" "the broker process exited"
		fi
		if ((SECONDS >= deadline)); then
			fail_start "$pid" "not ready after ${START_TIMEOUT}s"
		fi
		if port_in_use "$port" &&
			tool_java org.apache.kafka.tools.TopicCommand \
				--bootstrap-server "$bootstrap" --command-config "$DIR/probe.properties" \
				--list >/dev/null 2>"$DIR/probe.err"; then
			break
		fi
		sleep 0.5
	done
	printf '%s\n' "$bootstrap" >"$DIR/bootstrap"
	log "broker ready on $bootstrap in $((SECONDS - t0))s (pid $pid, dir $DIR)"
	printf 'KAFKA_DIR=%q\nKAFKA_BOOTSTRAP=%s\n' "$DIR" "$bootstrap"
}

cmd_stop() {
	parse_dir "$@"
	((${#REST[@]} == 0)) || die "stop: unexpected arguments: ${REST[*]}"
	require_dir
	local pid
	if ! pid=$(running_pid); then
		log "no broker running in $DIR"
		rm -f "$DIR/kafka.pid" "$DIR/bootstrap"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "broker pid $pid ignored TERM for ${STOP_TIMEOUT}s; sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	rm -f "$DIR/kafka.pid" "$DIR/bootstrap"
	log "broker stopped (pid $pid, data kept in $DIR/data)"
}

cmd_restart() {
	parse_dir "$@"
	((${#REST[@]} == 0)) || die "restart: unexpected arguments: ${REST[*]}"
	require_dir
	[[ -f $DIR/server.properties ]] || die "no broker was ever started in $DIR"
	cmd_stop --dir "$DIR"
	cmd_start --dir "$DIR"
}

cmd_status() {
	parse_dir "$@"
	if cache_complete; then
		log "Kafka $KAFKA_VERSION: fetched ($LIBS)"
	else
		log "Kafka $KAFKA_VERSION: not fetched (run: $0 fetch)"
	fi
	[[ -n $DIR ]] || return 0
	require_dir
	local pid
	if pid=$(running_pid); then
		log "broker running in $DIR (pid $pid)"
		printf 'KAFKA_DIR=%q\nKAFKA_BOOTSTRAP=%s\n' "$DIR" "$(cat "$DIR/bootstrap" 2>/dev/null || echo "127.0.0.1:$(broker_port)")"
		return 0
	fi
	log "no broker running in $DIR"
	return 3
}

# run CLASS ARGS...: the fetched classpath with quiet logging, e.g.
#   kafka.sh run org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" --list
cmd_run() {
	(($# >= 1)) || die "run: which class? e.g. org.apache.kafka.tools.TopicCommand"
	check_java
	cmd_fetch
	exec "$(java_bin)" -Xmx512m -Dlog4j2.configurationFile="$(tools_log4j)" -cp "$LIBS/*" "$@"
}

usage() {
	sed -n '2,13s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

main() {
	(($# >= 1)) || usage
	local sub=$1
	shift
	case $sub in
	fetch)
		check_java
		cmd_fetch
		;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	restart) cmd_restart "$@" ;;
	status) cmd_status "$@" ;;
	run) cmd_run "$@" ;;
	-h | --help | help) usage ;;
	*)
		log "unknown command: $sub"
		usage
		;;
	esac
}

main "$@"
