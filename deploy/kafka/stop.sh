#!/usr/bin/env bash
# Stop the broker started by start.sh (idempotent).
#   stop.sh [--wipe]   --wipe also deletes the data dir (topics, offsets, logs)
# Env: KAFKA_DATA_DIR (default deploy/kafka/.data), KAFKA_STOP_TIMEOUT (default 30 s)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
WIPE=0
for arg in "$@"; do
  case "$arg" in
    --wipe) WIPE=1 ;;
    -h|--help) echo "usage: $(basename "$0") [--wipe]" >&2; exit 0 ;;
    *) echo "usage: $(basename "$0") [--wipe]" >&2; exit 2 ;;
  esac
done

log() { echo "[kafka/stop] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

DATA_DIR="${KAFKA_DATA_DIR:-$HERE/.data}"
if [[ ! -d "$DATA_DIR" ]]; then
  log "Not running (no data dir $DATA_DIR)."
  exit 0
fi
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
CONF="$DATA_DIR/server.properties"
PID_FILE="$DATA_DIR/kafka.pid"

if [[ ! -f "$DATA_DIR/.kafka-local-data-dir" ]]; then
  # Not created by start.sh: touch nothing.
  ((WIPE)) && die "refusing to wipe $DATA_DIR: no .kafka-local-data-dir marker (not created by start.sh)"
  log "Not running ($DATA_DIR is not a start.sh data dir)."
  exit 0
fi

exec 9>"$DATA_DIR/.lock"
flock -w 180 9 || die "another start.sh/stop.sh holds $DATA_DIR/.lock"

alive() { kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }
is_our_broker() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $CONF"; }

pid=""
if [[ -f "$PID_FILE" ]]; then
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! alive "$pid" || ! is_our_broker "$pid"; then
    log "Stale pid file ($pid); broker not running."
    pid=""
  fi
fi

if [[ -n "$pid" ]]; then
  log "Stopping broker (pid $pid, SIGTERM) ..."
  kill -TERM "$pid" 2>/dev/null || true
  t0=$SECONDS
  while alive "$pid" && ((SECONDS - t0 < TIMEOUT)); do sleep 0.5; done
  if alive "$pid"; then
    log "Still running after ${TIMEOUT}s; sending SIGKILL."
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.2; done
  fi
  log "Stopped after $((SECONDS - t0))s."
elif [[ ! -f "$PID_FILE" ]]; then
  log "Not running (no pid file)."
fi
rm -f "$PID_FILE"

if ((WIPE)); then
  rm -rf "$DATA_DIR"
  log "Wiped $DATA_DIR."
fi
