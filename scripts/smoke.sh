#!/usr/bin/env bash
# The compose smoke check (`make smoke`, `./run.ps1 smoke`, and the compose
# job of .github/workflows/ci.yml): run it after `make up`. It asserts,
# through the interfaces a user has, that the stack works end to end:
#
#   health      every service of `up` is running and healthy, the one-shot
#               jobs (topics, clickhouse-setup) exited 0
#   clickhouse  ClickHouse holds windows and dead letters, no ingest rejects
#   grafana     Grafana lists the provisioned dashboards, and a ClickHouse
#               panel's query, sent through Grafana's /api/ds/query, returns
#               a row with counted messages
#   prometheus  Prometheus scrapes producer, processor and dispatcher, and
#               has the processor's message counters
#   chaos       a burst of future events written by `streamlab chaos`
#               reaches ClickHouse's dead-letter table, every message of it
#
# Every wait is for a condition the stack reports, bounded by
# SMOKE_TIMEOUT seconds. Needs curl and jq. Exits non-zero on the first
# failed check, naming it.
#
# Settings (environment): COMPOSE (docker compose), ENV_FILE (.env, for the
# passwords), GRAFANA_URL, CLICKHOUSE_URL, PROMETHEUS_URL (the published
# localhost ports), SMOKE_STEPS (all of the above, in that order),
# SMOKE_TIMEOUT (300), CHAOS_COUNT (200), RAW_TOPIC (events.raw.v1).
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a COMPOSE <<<"${COMPOSE:-docker compose}"
ENV_FILE=${ENV_FILE:-.env}
GRAFANA_URL=${GRAFANA_URL:-http://localhost:3000}
CLICKHOUSE_URL=${CLICKHOUSE_URL:-http://localhost:8123}
PROMETHEUS_URL=${PROMETHEUS_URL:-http://localhost:9090}
SMOKE_STEPS=${SMOKE_STEPS:-health clickhouse grafana prometheus chaos}
SMOKE_TIMEOUT=${SMOKE_TIMEOUT:-300}
CHAOS_COUNT=${CHAOS_COUNT:-200}
RAW_TOPIC=${RAW_TOPIC:-events.raw.v1}

log() { printf 'smoke: %s\n' "$*" >&2; }
fail() {
	log "FAILED: $*"
	exit 1
}

for tool in curl jq; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (the smoke check needs curl and jq)"
done

# env_value KEY prints KEY's value from the env file (the last assignment,
# surrounding quotes removed) without sourcing it.
env_value() {
	local v
	v=$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$ENV_FILE" | tail -n1)
	v=${v%\"}
	v=${v#\"}
	v=${v%\'}
	v=${v#\'}
	printf '%s' "$v"
}

# wait_until WHAT CMD...: runs CMD every 2 s until it succeeds or
# SMOKE_TIMEOUT passes. CMD prints its state on stdout; the last state is
# shown when the wait fails. CMD exits 2 for a failure that waiting cannot
# fix (a job that failed, a service that died): the check stops at once.
wait_until() {
	local what=$1 state rc deadline=$((SECONDS + SMOKE_TIMEOUT))
	shift
	while true; do
		rc=0
		state=$("$@" 2>&1) || rc=$?
		case $rc in
		0)
			log "ok: $what${state:+ ($state)}"
			return 0
			;;
		2) fail "$what: $state" ;;
		esac
		if ((SECONDS >= deadline)); then
			fail "$what: not reached within ${SMOKE_TIMEOUT}s; last state: $state"
		fi
		sleep 2
	done
}

# --- health

# services_ready prints the containers that are not ready yet and fails
# while there are any; a one-shot job that failed, or a service that
# exited, returns 2: waiting cannot fix it.
services_ready() {
	local config ps want oneshots pending=() s line state health code
	config=$("${COMPOSE[@]}" config --format json) || return 1
	mapfile -t want < <(jq -r '.services | keys[]' <<<"$config")
	mapfile -t oneshots < <(jq -r '.services | to_entries[] | select(.value.restart == "no") | .key' <<<"$config")
	# Compose prints one JSON object per line (older versions: one array).
	ps=$("${COMPOSE[@]}" ps -a --format json | jq -c 'if type == "array" then .[] else . end') || return 1
	for s in "${want[@]}"; do
		line=$(jq -c --arg s "$s" 'select(.Service == $s)' <<<"$ps" | head -n1)
		if [[ -z $line ]]; then
			pending+=("$s: no container")
			continue
		fi
		state=$(jq -r '.State' <<<"$line")
		health=$(jq -r '.Health // ""' <<<"$line")
		code=$(jq -r '.ExitCode // 0' <<<"$line")
		if printf '%s\n' "${oneshots[@]}" | grep -qx -- "$s"; then
			case $state in
			exited)
				if ((code != 0)); then
					printf 'one-shot %s exited with code %s (docker compose logs %s)' "$s" "$code" "$s"
					return 2
				fi
				;;
			*) pending+=("$s: $state") ;;
			esac
			continue
		fi
		case $state/$health in
		running/healthy | running/) ;;
		exited/* | dead/*)
			printf '%s is %s (exit code %s): docker compose logs %s' "$s" "$state" "$code" "$s"
			return 2
			;;
		*) pending+=("$s: $state${health:+ $health}") ;;
		esac
	done
	if ((${#pending[@]} > 0)); then
		printf '%s; ' "${pending[@]}"
		return 1
	fi
	printf '%d services' "${#want[@]}"
}

step_health() {
	wait_until "every service healthy, every one-shot job done" services_ready
}

# --- ClickHouse (HTTP interface, as the playground at :8123/play uses it)

ch_query() {
	curl -sS --fail-with-body -u "default:$(env_value CLICKHOUSE_PASSWORD)" \
		--data-binary "$1" "$CLICKHOUSE_URL/?database=streamlab"
}

# ch_positive QUERY: the query's single number is above zero.
ch_positive() {
	local n
	n=$(ch_query "$1") || {
		printf '%s' "$n"
		return 1
	}
	n=${n//[[:space:]]/}
	printf '%s' "$n"
	[[ $n =~ ^[0-9]+$ ]] && ((n > 0))
}

step_clickhouse() {
	wait_until "ClickHouse answers" ch_query "SELECT version()"
	wait_until "ClickHouse has windows" ch_positive "SELECT count() FROM window_totals"
	wait_until "ClickHouse has dead letters" ch_positive "SELECT count() FROM dead_letters_latest"
	local rejects
	rejects=$(ch_query "SELECT count() FROM ingest_rejects_latest")
	[[ ${rejects//[[:space:]]/} == 0 ]] || fail "ClickHouse rejected $rejects Kafka records (SELECT * FROM streamlab.ingest_rejects_latest)"
	log "ok: no ingest rejects"
}

# --- Grafana

grafana() {
	curl -sS --fail-with-body -u "admin:$(env_value GRAFANA_ADMIN_PASSWORD)" -H 'Content-Type: application/json' "$@"
}

dashboards_listed() {
	local want got missing=()
	got=$(grafana "$GRAFANA_URL/api/search?type=dash-db") || {
		printf '%s' "$got"
		return 1
	}
	for want in $(jq -r '.uid' grafana/dashboards/*.json); do
		jq -e --arg u "$want" 'any(.[]; .uid == $u)' <<<"$got" >/dev/null || missing+=("$want")
	done
	if ((${#missing[@]} > 0)); then
		printf 'missing %s' "${missing[*]}"
		return 1
	fi
	jq -r '[.[].title] | join(", ")' <<<"$got"
}

# panel_counts: the Pipeline dashboard's "Counted" panel, its query sent
# through Grafana (which expands the plugin's macros and asks ClickHouse)
# exactly as the panel does, returns one row with a count above zero.
panel_counts() {
	local body resp n
	body=$(jq -c '{from: "now-6h", to: "now", queries: [.panels[] | select(.title == "Counted") | .targets[0]
		| . + {refId: "A", intervalMs: 60000, maxDataPoints: 500}]}' grafana/dashboards/pipeline.json)
	if [[ $(jq '.queries | length' <<<"$body") != 1 ]]; then
		printf 'grafana/dashboards/pipeline.json has no "Counted" panel'
		return 2
	fi
	resp=$(grafana -X POST --data-binary "$body" "$GRAFANA_URL/api/ds/query") || {
		printf '%s' "$resp"
		return 1
	}
	n=$(jq -r '.results.A.frames[0].data.values[0][0] // empty' <<<"$resp")
	printf 'counted %s' "${n:-nothing: $(jq -c '.results.A' <<<"$resp" | head -c 300)}"
	[[ $n =~ ^[0-9.]+$ ]] && [[ $n != 0 ]]
}

step_grafana() {
	wait_until "Grafana is up" grafana "$GRAFANA_URL/api/health"
	wait_until "Grafana lists the provisioned dashboards" dashboards_listed
	wait_until "a ClickHouse panel query through Grafana returns rows" panel_counts
}

# --- Prometheus

prom_value() {
	curl -sS --fail-with-body -G --data-urlencode "query=$1" "$PROMETHEUS_URL/api/v1/query" |
		jq -r '.data.result[0].value[1] // empty'
}

# prom_at_least QUERY N: the query's value is at least N.
prom_at_least() {
	local v
	v=$(prom_value "$1") || return 1
	printf '%s = %s' "$1" "${v:-no series}"
	[[ -n $v ]] && jq -e --argjson n "$2" "$v >= \$n" <<<"null" >/dev/null
}

step_prometheus() {
	wait_until "Prometheus scrapes producer, processor and dispatcher" \
		prom_at_least 'count(up{job=~"producer|processor|dispatcher"} == 1)' 3
	wait_until "Prometheus has the processor's metrics" \
		prom_at_least 'sum(streamlab_processor_messages_total{outcome="counted"})' 1
}

# --- chaos: one burst, all of it in the dead-letter table

# raw_offsets prints "partition offset" per partition of the raw topic.
raw_offsets() {
	"${COMPOSE[@]}" exec -T kafka /opt/kafka/bin/kafka-get-offsets.sh --bootstrap-server localhost:9092 --topic "$RAW_TOPIC" |
		awk -F: 'NF == 3 { print $2, $3 }'
}

# burst_arrived QUERY: the query's first column is 1 (enough dead letters);
# its second, how many there are, is the state shown.
burst_arrived() {
	local r
	r=$(ch_query "$1") || {
		printf '%s' "$r"
		return 1
	}
	printf '%s of %s burst messages' "$(cut -f2 <<<"$r")" "$CHAOS_COUNT"
	[[ $(cut -f1 <<<"$r") == 1 ]]
}

step_chaos() {
	local before after p part from to ranges=""
	mapfile -t before < <(raw_offsets)
	((${#before[@]} > 0)) || fail "could not read the end offsets of $RAW_TOPIC"
	log "writing $CHAOS_COUNT future events (a device clock a year ahead) to $RAW_TOPIC"
	"${COMPOSE[@]}" run --rm -T cli chaos future --count "$CHAOS_COUNT" --seed 1 >&2
	mapfile -t after < <(raw_offsets)
	# The burst landed between the two end offsets of each partition, among
	# whatever the producer wrote meanwhile: every message of it must come
	# back as a future_event dead letter at one of those offsets (the
	# producer's own future events there only add to the count).
	for p in "${before[@]}"; do
		read -r part from <<<"$p"
		to=$(printf '%s\n' "${after[@]}" | awk -v p="$part" '$1 == p { print $2 }')
		[[ -n $to ]] || fail "partition $part of $RAW_TOPIC vanished during the burst"
		ranges+="${ranges:+ OR }(source_partition = $part AND source_offset >= $from AND source_offset < $to)"
	done
	wait_until "the chaos burst reached ClickHouse's dead-letter table" burst_arrived \
		"SELECT count() >= $CHAOS_COUNT, count() FROM dead_letters_latest WHERE source_topic = '$RAW_TOPIC' AND reason = 'future_event' AND ($ranges)"
}

on_exit() {
	local rc=$?
	if ((rc != 0)); then
		log "the stack as Compose sees it:"
		"${COMPOSE[@]}" ps -a >&2 || true
		log "logs: make logs (or docker compose logs SERVICE)"
	fi
}
trap on_exit EXIT

case " $SMOKE_STEPS " in
*" clickhouse "* | *" grafana "* | *" chaos "*)
	[[ -f $ENV_FILE ]] || fail "$ENV_FILE not found (the passwords are in it): run make up first, it creates it from .env.example"
	;;
esac
for step in $SMOKE_STEPS; do
	case $step in
	health | clickhouse | grafana | prometheus | chaos) "step_$step" ;;
	*) fail "unknown step '$step' (steps: health clickhouse grafana prometheus chaos)" ;;
	esac
done
log "all checks passed: $SMOKE_STEPS"
