#!/usr/bin/env bash
# Run any Kafka main class on the fetched classpath, e.g.
#   deploy/kafka/kafka-run-class.sh org.apache.kafka.tools.TopicCommand \
#       --bootstrap-server 127.0.0.1:9092 --list
#   deploy/kafka/kafka-run-class.sh org.apache.kafka.tools.ConsumerPerformance \
#       --bootstrap-server 127.0.0.1:9092 --topic t --messages 100000
# Env: KAFKA_TOOLS_HEAP_OPTS (default -Xmx256m), KAFKA_OPTS (extra JVM args,
# appended last so they can override the log4j2 config), JAVA_HOME.
# Tool logging: WARN+ to stderr (tools-log4j2.properties).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
  echo "usage: $(basename "$0") MAIN_CLASS [ARGS...]" >&2
  exit 2
fi

FETCH_QUIET=1 "$HERE/fetch.sh"

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
read -r -a heap_opts <<<"${KAFKA_TOOLS_HEAP_OPTS:--Xmx256m}"
read -r -a extra_opts <<<"${KAFKA_OPTS:-}"

exec "$JAVA" "${heap_opts[@]}" -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="$HERE/tools-log4j2.properties" \
  "${extra_opts[@]}" -cp "$HERE/.lib/*" "$@"
