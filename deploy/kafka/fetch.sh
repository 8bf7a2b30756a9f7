#!/usr/bin/env bash
# Resolve Apache Kafka jars from Maven Central into deploy/kafka/.lib/ (idempotent).
#   KAFKA_VERSION=4.x.y  override the version pinned in pom.xml
#   FETCH_FORCE=1        re-resolve even if .lib looks complete
#   FETCH_QUIET=1        say nothing when there is nothing to do
# Progress messages go to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIB="$HERE/.lib"
STAMP="$LIB/.complete"

log() { echo "[kafka/fetch] $*" >&2; }
njars() { local f=("$LIB"/*.jar); echo "${#f[@]}"; }

pom_version="$(sed -n 's|.*<kafka.version>\(.*\)</kafka.version>.*|\1|p' "$HERE/pom.xml" | head -n1)"
version="${KAFKA_VERSION:-$pom_version}"
# The stamp ties .lib to the exact pom + version that produced it.
want="$(sha256sum <"$HERE/pom.xml" | cut -d' ' -f1) kafka=$version"

lib_complete() {
  [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$want" ]] || return 1
  local j
  for j in "kafka_2.13-$version.jar" "kafka-server-$version.jar" "kafka-storage-$version.jar" \
           "kafka-tools-$version.jar" "kafka-clients-$version.jar"; do
    [[ -s "$LIB/$j" ]] || return 1
  done
  compgen -G "$LIB/log4j-core-*.jar" >/dev/null && compgen -G "$LIB/log4j-slf4j-impl-*.jar" >/dev/null
}

# Serialise concurrent fetches (e.g. two start.sh at once).
exec 8>"$HERE/.fetch.lock"
flock -w 900 8 || { log "ERROR: timed out waiting for another fetch to finish"; exit 1; }

if [[ "${FETCH_FORCE:-0}" != 1 ]] && lib_complete; then
  [[ "${FETCH_QUIET:-0}" == 1 ]] || log "Kafka $version jars already present ($(njars) jars in $LIB); nothing to do."
  exit 0
fi

command -v mvn >/dev/null || { log "ERROR: mvn not found on PATH"; exit 1; }

if [[ -d "$LIB" ]]; then
  log "$LIB is incomplete or stale (or FETCH_FORCE=1); re-resolving (replaced only on success)."
fi

log "Resolving Apache Kafka $version from Maven Central (mvn -q -B package) ..."
t0=$SECONDS
tmp="$HERE/.lib.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
# (Debian's mvn 3.8.7 emits stray ANSI resets even with -q -B; strip them.)
mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" -Dkafka.version="$version" -Dlib.dir="$tmp" package 2>&1 |
  sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2 ||
  { log "ERROR: mvn failed to resolve Kafka $version"; exit 1; }
echo "$want" > "$tmp/.complete"
rm -rf "$LIB"
mv "$tmp" "$LIB"
trap - EXIT
log "Done in $((SECONDS - t0))s: $(njars) jars ($(du -sh "$LIB" | cut -f1)) in $LIB"
