#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the test suites need besides Go, Java,
# Maven and npm: prometheus (the server and promtool, for `make e2e`'s
# TestPrometheusDashboards), kcat (the third-party Kafka client of the
# dead-letter e2e tests; package kcat, or kafkacat on older releases) and the
# shell linter shellcheck (for `make lint`). Used by .ci/run and
# .github/workflows/ci.yml; run it by hand the same way.
#
# Idempotent: it installs only what is missing. The prometheus package
# would start a system service listening on :9090; the tests start their
# own server on a free loopback port, so service starts are refused for the
# duration of the install (policy-rc.d, which invoke-rc.d and
# deb-systemd-invoke obey), and a service that started anyway is stopped.
set -euo pipefail

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

missing=()
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
	missing+=(prometheus)
fi
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
kcat=false
if ! command -v kcat >/dev/null 2>&1 && ! command -v kafkacat >/dev/null 2>&1; then
	kcat=true
fi
if ((${#missing[@]} == 0)) && [[ $kcat == false ]]; then
	log "prometheus, promtool, shellcheck and kcat are installed"
	exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
	log "missing ${missing[*]} and no apt-get here: install them with your package manager"
	exit 1
}

sudo=()
((EUID == 0)) || sudo=(sudo)
policy=/usr/sbin/policy-rc.d
added_policy=false
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# install-test-deps.sh: no service starts during the install\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	added_policy=true
fi
cleanup() {
	if [[ $added_policy == true ]]; then
		"${sudo[@]}" rm -f "$policy"
	fi
}
trap cleanup EXIT

"${sudo[@]}" apt-get update -qq
if [[ $kcat == true ]]; then
	if apt-cache show kcat >/dev/null 2>&1; then missing+=(kcat); else missing+=(kafkacat); fi
fi
log "installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

# Only a service this install brought in is stopped, never one that ran before.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 &&
	systemctl is-active --quiet prometheus 2>/dev/null; then
	log "stopping the prometheus system service the package started"
	"${sudo[@]}" systemctl stop prometheus
fi
log "installed: $(prometheus --version 2>&1 | head -n1); $(shellcheck --version | sed -n 's/^version: /shellcheck /p'); $(command -v kcat || command -v kafkacat)"
