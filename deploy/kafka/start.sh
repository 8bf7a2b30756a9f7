#!/usr/bin/env bash
# Start (idempotently) a single-node KRaft Kafka broker+controller on 127.0.0.1.
#   KAFKA_DATA_DIR         data/config/log/pid dir      (default deploy/kafka/.data)
#   KAFKA_PORT             client (PLAINTEXT) port      (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port        (default 9093)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (default 60)
#   KAFKA_HEAP_OPTS        broker heap                  (default "-Xms256m -Xmx512m")
#   KAFKA_OPTS             extra broker JVM args
#   KAFKA_CLUSTER_ID       cluster id used on first format (default: random)
#   KAFKA_EXTRA_CONFIG     extra server.properties lines (newline separated)
#   KAFKA_SECURITY         plaintext (default) or sasl_ssl: the client listener speaks
#                          SASL_SSL (SCRAM-SHA-512 over TLS), ACLs are enforced
#                          (StandardAuthorizer, no ACL = denied), the admin user is the
#                          super user; see docs/security.md
#   KAFKA_ADMIN_USER       sasl_ssl: super user's name     (default admin)
#   KAFKA_ADMIN_PASSWORD   sasl_ssl: its password, used on first format (default: random,
#                          kept in DATA_DIR/admin.password)
# Progress goes to stderr; the only stdout line is KAFKA_BOOTSTRAP_SERVERS=... (sasl_ssl
# adds SELLERPERF_SECURITY_PROTOCOL, SELLERPERF_SASL_MECHANISM, SELLERPERF_SSL_CAFILE and
# KAFKA_ADMIN_CONFIG, a client config file for the Kafka tools as the admin).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOST=127.0.0.1
PORT="${KAFKA_PORT:-9092}"
CPORT="${KAFKA_CONTROLLER_PORT:-9093}"
TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
SECURITY="${KAFKA_SECURITY:-plaintext}"

log() { echo "[kafka/start] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ "$PORT" =~ ^[0-9]+$ && "$CPORT" =~ ^[0-9]+$ ]] || die "KAFKA_PORT/KAFKA_CONTROLLER_PORT must be numbers"
[[ "$PORT" != "$CPORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "KAFKA_START_TIMEOUT must be a number of seconds"
[[ "$SECURITY" == plaintext || "$SECURITY" == sasl_ssl ]] ||
  die "KAFKA_SECURITY: got '$SECURITY'; expected plaintext or sasl_ssl"

mkdir -p "${KAFKA_DATA_DIR:-$HERE/.data}"
DATA_DIR="$(cd "${KAFKA_DATA_DIR:-$HERE/.data}" && pwd)"
CONF="$DATA_DIR/server.properties"
LOG_DIRS="$DATA_DIR/kraft-logs"
LOG_FILE="$DATA_DIR/kafka.log"
PID_FILE="$DATA_DIR/kafka.pid"
touch "$DATA_DIR/.kafka-local-data-dir"   # marker that lets stop.sh --wipe delete this dir
TOOL_CONFIG=()   # --command-config for the readiness check (sasl_ssl)

# One start/stop at a time per data dir.
exec 9>"$DATA_DIR/.lock"
flock -w 180 9 || die "another start.sh/stop.sh holds $DATA_DIR/.lock"

"$HERE/fetch.sh"

# pid of our broker for this data dir, if alive (guards against pid reuse).
broker_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $CONF" || return 1
  echo "$pid"
}
alive() { kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }
# Real metadata round-trip through the admin client.
answering() {
  port_open "$PORT" &&
    timeout 30 "$HERE/kafka-run-class.sh" org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "$HOST:$PORT" "${TOOL_CONFIG[@]}" --list >/dev/null 2>&1
}
log_tail() {
  log "---- last 40 lines of $LOG_FILE ----"
  tail -n 40 "$LOG_FILE" >&2 || true
  log "------------------------------------"
}

wait_ready() {  # $1 = pid
  local pid="$1" t0=$SECONDS
  log "Waiting up to ${TIMEOUT}s for the broker on $HOST:$PORT ..."
  while true; do
    if ! alive "$pid"; then
      rm -f "$PID_FILE"
      log_tail
      die "broker (pid $pid) exited during startup; see $LOG_FILE"
    fi
    if answering; then
      log "Broker is up (pid $pid) after $((SECONDS - t0))s."
      return 0
    fi
    if ((SECONDS - t0 >= TIMEOUT)); then
      log_tail
      die "broker (pid $pid) not answering on $HOST:$PORT after ${TIMEOUT}s; it is still running - see $LOG_FILE, stop it with $HERE/stop.sh"
    fi
    sleep 1
  done
}

# The lines start.sh prints on stdout once the broker answers.
ready_lines() {
  echo "KAFKA_BOOTSTRAP_SERVERS=$HOST:$PORT"
  if [[ "$SECURITY" == sasl_ssl ]]; then
    echo "SELLERPERF_SECURITY_PROTOCOL=SASL_SSL"
    echo "SELLERPERF_SASL_MECHANISM=SCRAM-SHA-512"
    echo "SELLERPERF_SSL_CAFILE=$TLS/ca.crt"
    echo "KAFKA_ADMIN_CONFIG=$ADMIN_CONFIG"
  fi
}

# A data dir is formatted for one security mode: the SCRAM admin exists only if sasl_ssl
# formatted it.
if [[ -f "$LOG_DIRS/meta.properties" ]]; then
  formatted="$(cat "$DATA_DIR/security" 2>/dev/null || echo plaintext)"
  [[ "$formatted" == "$SECURITY" ]] ||
    die "$DATA_DIR was formatted with KAFKA_SECURITY=$formatted, not $SECURITY; use another KAFKA_DATA_DIR or stop.sh --wipe"
fi

if [[ "$SECURITY" == sasl_ssl ]]; then
  # shellcheck source=deploy/kafka/secure.sh
  source "$HERE/secure.sh"
  secure_setup   # sets TLS, ADMIN_CONFIG, SECURE_PROPS, SCRAM_FORMAT_ARGS; fills TOOL_CONFIG
fi

if pid="$(broker_pid)"; then
  if answering; then
    log "Broker already running (pid $pid) and answering on $HOST:$PORT; nothing to do."
  else
    log "Broker already running (pid $pid) but not answering yet."
    wait_ready "$pid"
  fi
  ready_lines
  exit 0
fi
rm -f "$PID_FILE"

for p in "$PORT" "$CPORT"; do
  port_open "$p" && die "port $HOST:$p is already in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
done

# Regenerated on every start so port changes take effect; the data in
# $LOG_DIRS is kept.
LISTENER_PROPS="listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CPORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
if [[ "$SECURITY" == sasl_ssl ]]; then LISTENER_PROPS="$SECURE_PROPS"; fi
cat >"$CONF" <<PROPS
# Generated by deploy/kafka/start.sh - edits are overwritten on next start.
process.roles=broker,controller
node.id=1
# Static single-voter quorum (still supported in Kafka 4; the dynamic-quorum
# alternative is controller.quorum.bootstrap.servers + 'format --standalone').
controller.quorum.voters=1@$HOST:$CPORT
controller.listener.names=CONTROLLER
$LISTENER_PROPS
log.dirs=$LOG_DIRS

num.partitions=4
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# Small machine: keep thread pools modest.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
PROPS
if [[ -n "${KAFKA_EXTRA_CONFIG:-}" ]]; then
  printf '\n# KAFKA_EXTRA_CONFIG\n%s\n' "$KAFKA_EXTRA_CONFIG" >>"$CONF"
fi

if [[ ! -f "$LOG_DIRS/meta.properties" ]]; then
  cluster_id="${KAFKA_CLUSTER_ID:-$("$HERE/kafka-run-class.sh" kafka.tools.StorageTool random-uuid)}"
  log "Formatting storage in $LOG_DIRS (cluster id $cluster_id) ..."
  if ! out="$("$HERE/kafka-run-class.sh" kafka.tools.StorageTool format \
      --config "$CONF" --cluster-id "$cluster_id" --ignore-formatted \
      ${SCRAM_FORMAT_ARGS[@]+"${SCRAM_FORMAT_ARGS[@]}"} 2>&1)"; then
    echo "$out" >&2
    die "storage format failed (config: $CONF)"
  fi
  echo "$SECURITY" >"$DATA_DIR/security"
fi

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
read -r -a heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
read -r -a extra_opts <<<"${KAFKA_OPTS:-}"

log "Starting Kafka broker on $HOST:$PORT (controller $HOST:$CPORT), data in $DATA_DIR ..."
echo "==== $(date -Is) start.sh: starting broker ====" >>"$LOG_FILE"
# setsid: own session, so the broker survives the calling shell/terminal.
# Close fd 9 so the broker does not keep holding the start/stop lock.
setsid "$JAVA" "${heap_opts[@]}" \
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="$HERE/log4j2.properties" -Dkafka.logs.dir="$DATA_DIR" \
  "${extra_opts[@]}" -cp "$HERE/.lib/*" kafka.Kafka "$CONF" \
  </dev/null >>"$LOG_FILE" 2>&1 9>&- &
pid=$!
echo "$pid" >"$PID_FILE"

wait_ready "$pid"
ready_lines
