#!/usr/bin/env bash
# Runs the whole test suite; starts a local Kafka broker for the Kafka tier
# unless KAFKA_BOOTSTRAP_SERVERS points at one already.
set -euo pipefail
cd "$(dirname "$0")/../.."

# promtool, prometheus, docker-compose, java, mvn: installed or named in one line.
bash deploy/ci/tools.sh

started_broker=0
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  export KAFKA_BOOTSTRAP_SERVERS
  KAFKA_BOOTSTRAP_SERVERS="$(deploy/kafka/start.sh | sed -n 's/^KAFKA_BOOTSTRAP_SERVERS=//p')"
  started_broker=1
fi
cleanup() {
  if [[ $started_broker == 1 ]]; then deploy/kafka/stop.sh >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# Kafka tests must run, not skip, here.
export SELLERPERF_REQUIRE_KAFKA=1
# ... and the promtool / docker-compose checks must not skip either.
export SELLERPERF_REQUIRE_TOOLS=1
.venv/bin/python -m pytest -q "$@"
