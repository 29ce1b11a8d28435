#!/usr/bin/env bash
# Installs chDB's prebuilt libchdb.so (the ClickHouse engine as a shared library)
# from npm into the streamlab cache, outside the repo, and prints its path as
#   STREAMLAB_LIBCHDB=/abs/path/libchdb.so
# so callers can `eval "$(scripts/chdb/install.sh)"`. Progress goes to stderr.
#
# npm is used only as a download channel: the package ships the .so and no
# install scripts are needed (--ignore-scripts). The tarball is ~570 MB unpacked.
set -euo pipefail

CHDB_NPM_PACKAGE="${CHDB_NPM_PACKAGE:-@chdb/lib-linux-x64-gnu}"
CHDB_VERSION="${CHDB_VERSION:-26.7.3-stable.1}"
cache_root="${STREAMLAB_CACHE:-$HOME/.cache/streamlab}"
dest="${cache_root}/chdb-${CHDB_VERSION}"
marker="${dest}/.installed"

log() { printf 'chdb-install: %s\n' "$*" >&2; }

case "$(uname -s)-$(uname -m)" in
Linux-x86_64) ;;
*)
	log "unsupported platform $(uname -s)-$(uname -m): ${CHDB_NPM_PACKAGE} is linux x86_64 glibc only"
	exit 1
	;;
esac

find_lib() {
	find "$1" -name libchdb.so -type f -print -quit 2>/dev/null
}

if [[ -f "${marker}" ]]; then
	lib="$(cat "${marker}")"
	if [[ -f "${lib}" ]]; then
		printf 'STREAMLAB_LIBCHDB=%s\n' "${lib}"
		exit 0
	fi
	log "marker points to missing ${lib}; reinstalling"
	rm -f "${marker}"
fi

command -v npm >/dev/null 2>&1 || {
	log "npm not found: install Node.js/npm (e.g. apt-get install npm)"
	exit 1
}

mkdir -p "${cache_root}"
# Install into a temporary sibling and rename it into place, so an interrupted
# download never leaves a half-populated directory that looks installed.
tmp="$(mktemp -d "${cache_root}/.chdb-${CHDB_VERSION}.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT

log "installing ${CHDB_NPM_PACKAGE}@${CHDB_VERSION} into ${dest} (~570 MB, takes a while)"
start=$(date +%s)
npm install --prefix "${tmp}" --no-audit --no-fund --ignore-scripts --no-save \
	--loglevel=error "${CHDB_NPM_PACKAGE}@${CHDB_VERSION}" >&2

if [[ -z "$(find_lib "${tmp}")" ]]; then
	log "libchdb.so not found in ${CHDB_NPM_PACKAGE}@${CHDB_VERSION}"
	exit 1
fi

# mktemp -d creates the directory 0700; the library should be readable by
# whoever runs the tests (e.g. a container user), like any cache entry.
chmod 755 "${tmp}"
rm -rf "${dest}"
mv "${tmp}" "${dest}"
trap - EXIT
lib="$(find_lib "${dest}")"
lib="$(cd "$(dirname "${lib}")" && pwd -P)/libchdb.so"
printf '%s\n' "${lib}" >"${marker}"
log "installed in $(($(date +%s) - start)) s"
printf 'STREAMLAB_LIBCHDB=%s\n' "${lib}"
