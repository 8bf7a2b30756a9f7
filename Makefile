# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test test-fast tools lint kafka-up kafka-down bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(VENV)/bin/sellerperf demo

lint: setup
	$(VENV)/bin/ruff check streams tests bench
	$(VENV)/bin/mypy

# The programs the tests need besides Python (Java, Maven, Prometheus, docker-compose):
# installed with apt-get when missing and run as root, else one line says the command.
tools:
	@bash deploy/ci/tools.sh

# Everything CI runs: lint, types, unit + property tests, and the Kafka tier
# against a real broker started here (unless KAFKA_BOOTSTRAP_SERVERS is set).
test: tools setup lint
	bash deploy/ci/test.sh

test-fast: setup
	$(PY) -m pytest -q -m "not kafka"

kafka-up:
	deploy/kafka/start.sh

kafka-down:
	deploy/kafka/stop.sh

bench: setup
	$(PY) bench/bench_engine.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The long chaos run against the broker of deploy/kafka/start.sh (KAFKA_PORT, KAFKA_DATA_DIR,
# ...; started if not running, and restarted during the run): prints a table, fails on a loss.
.PHONY: chaos
chaos: setup
	$(PY) bench/chaos.py
