#!/usr/bin/env bash
# The programs `make test` needs besides Python: installs the missing Debian packages when
# run as root, otherwise stops with one line naming the command to run. Quiet when all
# are there.
#   java, mvn       the local Kafka broker (deploy/kafka) and the benchmark's Kafka tools
#   promtool        Prometheus config, rule and rule-test checks   (Debian: prometheus)
#   prometheus      scraping a real worker in the Kafka tier        (Debian: prometheus)
#   docker-compose  `docker-compose config` of docker-compose.yml   (Debian: docker-compose)
set -euo pipefail

# program -> Debian package that provides it
declare -A PACKAGE=(
  [java]=openjdk-17-jre-headless [mvn]=maven
  [promtool]=prometheus [prometheus]=prometheus [docker-compose]=docker-compose
)
ORDER=(java mvn promtool prometheus docker-compose)

missing_programs() {
  local p
  for p in "${ORDER[@]}"; do command -v "$p" >/dev/null 2>&1 || echo "$p"; done
}

mapfile -t missing < <(missing_programs)
[[ ${#missing[@]} -eq 0 ]] && exit 0

packages=()
for p in "${missing[@]}"; do
  pkg=${PACKAGE[$p]}
  [[ " ${packages[*]} " == *" $pkg "* ]] || packages+=("$pkg")
done
install="apt-get install -y --no-install-recommends ${packages[*]}"
printf -v names '%s, ' "${missing[@]}"
names=${names%, }

if [[ $(id -u) != 0 ]]; then
  echo "make test: ${names} not found; run: sudo apt-get update && sudo ${install}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "make test: ${names} not found and no apt-get here; install the Debian packages'" \
       "equivalents of: ${packages[*]}" >&2
  exit 1
fi

echo "make test: installing ${packages[*]} (for ${names}) with apt-get ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends ${packages[*]} >/dev/null

mapfile -t still < <(missing_programs)
if [[ ${#still[@]} -ne 0 ]]; then
  echo "make test: still not on PATH after '${install}': ${still[*]}" >&2
  exit 1
fi
