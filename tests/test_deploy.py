"""Deployment files: Prometheus configuration, rules and their unit tests, Grafana, compose,
and deploy/ci/tools.sh (what `make test` installs).

Some need Debian's `prometheus` (promtool) and `docker-compose` packages, no broker. Without
them these tests skip, unless SELLERPERF_REQUIRE_TOOLS=1, where they fail. That the panel
expressions return data from a real worker is tests/kafka/test_prometheus.py's job.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "sellerperf.json"
COMPOSE = ROOT / "docker-compose.yml"
TOOLS = ROOT / "deploy" / "ci" / "tools.sh"
README = ROOT / "README.md"

# Example values for Grafana's variables, for parsing only.
GRAFANA_VARS = {"metric": "late_shipment_rate_10d", "__rate_interval": "1m",
                "__interval": "1m", "__range": "1h"}


def tool(name: str) -> str:
    """Path of a binary; skip without it unless SELLERPERF_REQUIRE_TOOLS=1."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("SELLERPERF_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{name} not found and SELLERPERF_REQUIRE_TOOLS=1 "
                    f"(apt-get install prometheus docker-compose)")
    pytest.skip(f"{name} not found (apt-get install prometheus docker-compose)")


def run(*args: str | Path, cwd: Path = ROOT) -> str:
    """Run a command; fail the test with its output unless it exits 0."""
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Panels, those inside collapsed rows included; rows themselves left out."""
    out = []
    for p in panels:
        if p.get("type") != "row":
            out.append(p)
        out += all_panels(p.get("panels", []))
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's variable forms $name and ${name} replaced by values[name]."""
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        assert name in values, f"unknown variable ${name} in {expr!r}"
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def rule_names(path: Path, kind: str) -> list[str]:
    """Names of the `- record:` or `- alert:` rules of a rule file."""
    return re.findall(rf"(?m)^\s*- {kind}:\s*(\S+)\s*$", path.read_text())


# ---------------------------------------------------------------- Prometheus


def test_prometheus_configurations_are_valid() -> None:
    promtool = tool("promtool")
    out = run(promtool, "check", "config", "prometheus.yml", "prometheus.local.yml",
              cwd=PROMETHEUS)
    # check config also checks the rule files each names: both files must name both.
    assert out.count("recording.yml") >= 2 and out.count("alerts.yml") >= 2, out


def test_rule_files_are_valid() -> None:
    promtool = tool("promtool")
    files = sorted((PROMETHEUS / "rules").glob("*.yml"))
    assert {f.name for f in files} == {"recording.yml", "alerts.yml"}
    run(promtool, "check", "rules", *files)


def test_alerting_rules_pass_their_unit_tests() -> None:
    promtool = tool("promtool")
    tests = sorted((PROMETHEUS / "tests").glob("*.yml"))
    assert tests
    out = run(promtool, "test", "rules", *tests, cwd=PROMETHEUS / "tests")
    assert "SUCCESS" in out, out


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    alerts = rule_names(PROMETHEUS / "rules" / "alerts.yml", "alert")
    assert {"SellerperfWorkerDown", "SellerperfDeadLetterRateHigh",
            "SellerperfEventTimeLagHigh", "SellerperfSellersInBreachRising",
            "SellerperfInputOffsetsSkipped"} <= set(alerts)
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in (PROMETHEUS / "tests").glob("*.yml"):
        # Each case: `alertname: X` followed by `exp_alerts: []` (quiet) or a list (fires).
        for name, expected in re.findall(
                r"(?m)^\s*alertname:\s*(\S+)\s*\n\s*exp_alerts:(.*)$", path.read_text()):
            (quiet if expected.strip() == "[]" else fires).add(name)
    assert not set(alerts) - fires, f"no case where these fire: {set(alerts) - fires}"
    assert not set(alerts) - quiet, f"no case where these stay quiet: {set(alerts) - quiet}"


def test_alerting_rules_have_for_severity_summary_and_description() -> None:
    text = (PROMETHEUS / "rules" / "alerts.yml").read_text()
    blocks = re.split(r"(?m)^\s*- alert:", text)[1:]
    assert blocks
    for block in blocks:
        name = block.split()[0]
        assert re.search(r"(?m)^\s*for:\s*\d+[smh]", block), f"{name}: no for:"
        assert re.search(r"(?m)^\s*severity:\s*(critical|warning|info)\s*$", block), name
        assert re.search(r"(?m)^\s*summary:", block), f"{name}: no summary"
        assert re.search(r"(?m)^\s*description:", block), f"{name}: no description"


def test_recording_rules_follow_the_naming_convention() -> None:
    names = rule_names(PROMETHEUS / "rules" / "recording.yml", "record")
    assert len(names) >= 8
    for name in names:
        # level:metric:operations, e.g. sellerperf:events_consumed:rate1m
        assert re.fullmatch(r"sellerperf:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_prometheus_scrapes_the_compose_workers_and_the_local_ones() -> None:
    compose = (PROMETHEUS / "prometheus.yml").read_text()
    local = (PROMETHEUS / "prometheus.local.yml").read_text()
    assert re.search(r"job_name:\s*sellerperf\b", compose)
    assert re.search(r"job_name:\s*sellerperf\b", local)
    assert re.findall(r"(?m)^\s*- (worker-\d:\d+)\s*$", compose) == \
        ["worker-1:6066", "worker-2:6067"]
    assert re.findall(r"(?m)^\s*- (127\.0\.0\.1:\d+)\s*$", local) == \
        ["127.0.0.1:6066", "127.0.0.1:6067"]


# ---------------------------------------------------------------- Grafana


def test_dashboard_panels_each_have_an_expression() -> None:
    board = dashboard()
    assert board["uid"] and board["title"]
    panels = all_panels(board["panels"])
    assert len(panels) >= 12
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels:
        exprs = [t.get("expr", "").strip() for t in p.get("targets", [])]
        assert exprs and all(exprs), f"panel {p.get('title')!r}: every target needs an expr"
        assert p.get("datasource", {}).get("uid") == "${datasource}", p["title"]


def test_dashboard_covers_what_the_issue_asks_for() -> None:
    panels = all_panels(dashboard()["panels"])
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in panels}
    joined = " ".join(exprs.values())
    for needle in ("events_consumed", "histogram_quantile", "event_time_lag_seconds",
                   "invalid_events", "alerts_emitted", "sellers:sum",
                   "seller_rate_ratio_bucket"):
        assert needle in joined, f"no panel shows {needle}"
    types = {p["type"] for p in panels}
    assert {"heatmap", "bargauge", "timeseries"} <= types, types
    per_metric = [t for t, e in exprs.items() if "$metric" in e]
    assert len(per_metric) >= 5, per_metric
    for title in per_metric:
        assert "$metric" in title, f"{title!r} depends on the variable; say so in its title"
    for p in panels:
        if p["type"] == "heatmap" or "seller_rate_ratio_bucket" in exprs[p["title"]]:
            assert all(t.get("format") == "heatmap" for t in p["targets"]), p["title"]


def test_dashboard_variables() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    metric = variables["metric"]
    assert metric["type"] == "query"
    query = metric["query"]["query"] if isinstance(metric["query"], dict) else metric["query"]
    assert query == "label_values(sellerperf_sellers, metric)"
    assert metric["definition"] == query
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    provisioned = (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    uid = re.search(r"(?m)^\s*uid:\s*(\S+)\s*$", provisioned)
    assert uid and variables["datasource"]["current"]["value"] == uid.group(1)
    assert re.search(r"(?m)^\s*url:\s*http://prometheus:9090\s*$", provisioned)
    assert re.search(r"(?m)^\s*type:\s*prometheus\s*$", provisioned)


def test_every_panel_expression_parses(tmp_path: Path) -> None:
    """promtool parses each panel expression, variables filled in, as a recording rule."""
    promtool = tool("promtool")
    exprs = [substitute(t["expr"], GRAFANA_VARS)
             for p in all_panels(dashboard()["panels"]) for t in p["targets"]]
    rules = "groups:\n  - name: dashboard\n    rules:\n" + "".join(
        f"      - record: dashboard:panel_expr:{i}\n        expr: {json.dumps(e)}\n"
        for i, e in enumerate(exprs))
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(rules)
    out = run(promtool, "check", "rules", path)
    assert f"{len(exprs)} rules found" in out, out


def test_panels_use_only_recording_rules_that_exist() -> None:
    recorded = set(rule_names(PROMETHEUS / "rules" / "recording.yml", "record"))
    used = {name for p in all_panels(dashboard()["panels"]) for t in p["targets"]
            for name in re.findall(r"sellerperf:[a-z0-9_]+:[a-z0-9_]+", t["expr"])}
    assert used, "the dashboard should use the recording rules"
    assert used <= recorded, f"not recorded: {used - recorded}"


# ---------------------------------------------------------------- docker-compose


def compose_services(resolved: str) -> dict[str, str]:
    """Service name -> its block of `docker-compose config` output (anchors resolved)."""
    section = re.search(r"(?ms)^services:\n(.*?)(?=^\S|\Z)", resolved)
    assert section, resolved
    return {m.group(1): m.group(2) for m in re.finditer(
        r"(?m)^  (\S+):\n((?:^(?:    .*)?\n)*)", section.group(1))}


def test_compose_file_is_valid() -> None:
    compose = tool("docker-compose")
    run(compose, "-f", COMPOSE, "config", "-q")
    services = set(run(compose, "-f", COMPOSE, "config", "--services").split())
    assert {"kafka", "topics", "worker-1", "worker-2", "simulator", "prometheus",
            "grafana"} <= services, services


def test_compose_stack_wires_prometheus_grafana_and_the_workers() -> None:
    compose = tool("docker-compose")
    services = compose_services(run(compose, "-f", COMPOSE, "config"))
    prom, grafana = services["prometheus"], services["grafana"]
    assert re.search(r"image: prom/prometheus:", prom)
    assert f"{PROMETHEUS}:/etc/prometheus:ro" in prom
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom
    assert re.search(r"image: grafana/grafana:", grafana)
    assert f"{GRAFANA / 'provisioning'}:/etc/grafana/provisioning:ro" in grafana
    provider = (GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    path = re.search(r"(?m)^\s*path:\s*(\S+)\s*$", provider)
    assert path and f"{GRAFANA / 'dashboards'}:{path.group(1)}:ro" in grafana
    # Each scrape target of prometheus.yml is a worker listening on a reachable address.
    targets = re.findall(r"(?m)^\s*- (worker-\d):(\d+)\s*$",
                         (PROMETHEUS / "prometheus.yml").read_text())
    assert targets
    for host, port in targets:
        block = services[host]
        assert re.search(rf"SELLERPERF_WEB_PORT: ['\"]?{port}['\"]?\s*$", block, re.M), host
        bind = re.search(r"(?m)^\s*SELLERPERF_WEB_HOST: ['\"]?([^'\"\s]+)", block)
        assert bind and bind.group(1) in (host, "0.0.0.0"), \
            f"{host}: the default 127.0.0.1 is unreachable from the prometheus container"


def compose() -> dict[str, Any]:
    """docker-compose.yml as data, YAML anchors and merge keys resolved."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping, please"
    return {k: str(v) for k, v in env.items()}


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port."""
    out = []
    for entry in service.get("ports", []):
        m = re.fullmatch(r"(?:([\d.]+):)?(\d+):(\d+)(?:/tcp)?", str(entry))
        assert m, f"port {entry!r}: expected ADDRESS:HOST:CONTAINER"
        out.append((m.group(1) or "", int(m.group(2)), int(m.group(3))))
    return out


def worker_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose()["services"].items()
            if svc.get("command") == ["sellerperf", "worker"]}


def test_the_broker_has_a_second_listener_for_clients_on_this_machine() -> None:
    services = compose()["services"]
    env = env_of(services["kafka"])
    listeners = dict(reversed(x.split("://")) for x in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(x.split("://") for x in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised["PLAINTEXT"] == "kafka:9092", "containers use kafka:9092"
    host, port = advertised["EXTERNAL"].split(":")
    assert host == "localhost"
    assert listeners[f":{port}"] == "EXTERNAL", listeners
    assert ("127.0.0.1", int(port), int(port)) in published(services["kafka"])
    protocols = dict(x.split(":") for x in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols["EXTERNAL"] == protocols["PLAINTEXT"] == "PLAINTEXT"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "PLAINTEXT"
    for name, svc in services.items():
        if "KAFKA_BOOTSTRAP_SERVERS" in env_of(svc):
            assert env_of(svc)["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name


# A local broker (deploy/kafka: 9092, controller 9093), local workers (6066, 6067 in
# prometheus.local.yml), and Debian's own Prometheus and Grafana's default.
LOCAL_PORTS = {9092, 9093, 6066, 6067, 9090, 3000}


def test_every_port_is_published_on_localhost_clear_of_local_services() -> None:
    host_ports = []
    for name, svc in compose()["services"].items():
        for address, host_port, _ in published(svc):
            assert address == "127.0.0.1", f"{name}: port {host_port} published on all interfaces"
            assert host_port not in LOCAL_PORTS, f"{name}: {host_port} clashes with a local one"
            host_ports.append(host_port)
    assert len(host_ports) == len(set(host_ports)) >= 5, host_ports
    readme = README.read_text()
    for port in host_ports:  # the README's table of the compose stack's ports
        assert re.search(rf"\b{port}\b", readme), f"the README does not say where {port} is"


def test_workers_report_ready_through_health_ready_with_python() -> None:
    workers = worker_services()
    assert set(workers) == {"worker-1", "worker-2"}
    for name, svc in workers.items():
        test = svc["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], f"{name}: the image has python, not curl"
        port = env_of(svc)["SELLERPERF_WEB_PORT"]
        assert f"http://127.0.0.1:{port}/health/ready" in test[3], name
        assert env_of(svc)["SELLERPERF_WEB_BIND"] == "0.0.0.0", f"{name}: 127.0.0.1 answers"


class _Status(http.server.BaseHTTPRequestHandler):
    status: ClassVar[int] = 200
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ready_server() -> Iterator[tuple[type[_Status], int]]:
    handler = type("Handler", (_Status,), {"paths": []})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_worker_healthcheck_passes_on_200_and_fails_on_503(
    ready_server: tuple[type[_Status], int], status: int, healthy: bool,
) -> None:
    """The healthcheck's own code, pointed at a local server answering `status`."""
    handler, port = ready_server
    handler.status = status
    svc = worker_services()["worker-1"]
    code = svc["healthcheck"]["test"][3].replace(
        f"127.0.0.1:{env_of(svc)['SELLERPERF_WEB_PORT']}", f"127.0.0.1:{port}")
    done = subprocess.run([shutil.which("python3") or "python3", "-c", code],
                          capture_output=True, timeout=30)
    assert (done.returncode == 0) == healthy, done.stderr
    assert handler.paths == ["/health/ready"]


def test_broker_and_worker_state_live_in_named_volumes_together() -> None:
    """`down` keeps, `down -v` removes, both: a worker's state never outlives its broker."""
    config = compose()
    services, volumes = config["services"], set(config["volumes"])
    log_dirs = env_of(services["kafka"])["KAFKA_LOG_DIRS"]
    assert f"kafka-data:{log_dirs}" in services["kafka"]["volumes"]
    for name, svc in worker_services().items():
        data_dir = env_of(svc)["SELLERPERF_DATA_DIR"]
        mounts = [v for v in svc["volumes"] if v.endswith(f":{data_dir}")]
        assert len(mounts) == 1 and mounts[0].split(":")[0] in volumes, name
    assert "kafka-data" in volumes


def test_every_service_is_built_here_or_pulled_at_a_pinned_version() -> None:
    services = compose()["services"]
    built = {svc["image"] for svc in services.values() if "build" in svc}
    for name, svc in services.items():
        if "build" in svc:
            continue
        image = svc.get("image", "")
        assert image not in built, f"{name}: uses the image built here but has no build:"
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: {image!r} has no tag"
        assert not image.endswith(":latest"), f"{name}: {image} is not a pinned version"
    assert "build" in services["simulator"] and "build" in services["topics"]


def test_the_broker_is_the_kafka_version_of_deploy_kafka() -> None:
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka\.version>([\d.]+)</kafka\.version>", pom)
    assert version
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{version.group(1)}"


def test_the_simulators_calendar_ends_now() -> None:
    # Relative to now, and ending there: no event from the future (dead letter `future`).
    command = compose()["services"]["simulator"]["command"]
    assert command[:4] == ["sellerperf", "simulate", "--to", "kafka"]
    start = command[command.index("--start") + 1]
    days = int(command[command.index("--days") + 1])
    assert start == f"now-{days}d", command


def test_the_workers_restart_after_a_failed_batch() -> None:
    services = compose()["services"]
    workers = [s for s in services.values() if s.get("command") == ["sellerperf", "worker"]]
    assert len(workers) == 2
    assert all(w.get("restart") == "on-failure" for w in workers), workers


def test_the_dashboard_has_the_name_the_readme_and_compose_give_it() -> None:
    title = dashboard()["title"]
    assert title == "Seller performance"
    assert f'"{title}" dashboard' in README.read_text()
    assert f'dashboard "{title}"' in COMPOSE.read_text()


def test_dockerignore_leaves_out_local_state_and_keeps_what_the_image_copies() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for needed in (".venv", "deploy/kafka/.lib", "deploy/kafka/.data", ".state", ".git",
                   "bench/results", "out", ".mypy_cache", ".pytest_cache", "**/__pycache__"):
        assert needed in patterns, f".dockerignore should leave out {needed}"
    copied = [src for line in (ROOT / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ") for src in line.split()[1:-1]]
    assert "streams" in copied and "README.md" in copied
    for src in copied:
        for pattern in patterns:
            assert not fnmatch.fnmatch(src, pattern), f"{pattern} leaves out {src}"


# ---------------------------------------------------------------- deploy/ci/tools.sh

PACKAGES = {"openjdk-17-jre-headless": ["java"], "maven": ["mvn"],
            "prometheus": ["promtool", "prometheus"], "docker-compose": ["docker-compose"]}


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def fake_system(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A PATH of only fakes: `id`, an `apt-get` that logs its arguments and "installs" a
    package by copying its programs from a staging area; (bin dir, apt-get's log)."""
    bin_dir, stage, log = tmp_path / "bin", tmp_path / "stage", tmp_path / "apt.log"
    bin_dir.mkdir()
    for package, programs in PACKAGES.items():
        (stage / package).mkdir(parents=True)
        for program in programs:
            executable(stage / package / program, "#!/bin/sh\nexit 0\n")
    executable(bin_dir / "apt-get", f"""#!/bin/bash
echo "$*" >> {log}
[[ $1 == install ]] || exit 0
for arg in "$@"; do
  [[ $arg == -* || $arg == install ]] || /bin/cp -p {stage}/"$arg"/* {bin_dir}/
done
""")
    yield bin_dir, log


def run_tools(bin_dir: Path, uid: int) -> subprocess.CompletedProcess[str]:
    executable(bin_dir / "id", f"#!/bin/sh\necho {uid}\n")
    bash = shutil.which("bash")
    assert bash
    return subprocess.run([bash, str(TOOLS)], env={"PATH": str(bin_dir)}, capture_output=True,
                          text=True, timeout=60)


def test_tools_not_root_stops_in_one_line_naming_the_command(
    fake_system: tuple[Path, Path],
) -> None:
    bin_dir, log = fake_system
    done = run_tools(bin_dir, 1000)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("make test: java, mvn, promtool, prometheus, docker-compose "
                               "not found; run: sudo apt-get update && ")
    assert lines[0].endswith("sudo apt-get install -y --no-install-recommends "
                             "openjdk-17-jre-headless maven prometheus docker-compose")
    assert not log.exists(), "apt-get must not run when not root"


def test_tools_not_root_names_only_what_is_missing(fake_system: tuple[Path, Path]) -> None:
    bin_dir, _ = fake_system
    for program in ("java", "mvn", "promtool", "prometheus"):
        executable(bin_dir / program, "#!/bin/sh\n")
    done = run_tools(bin_dir, 1000)
    assert done.returncode == 1
    assert done.stderr == ("make test: docker-compose not found; run: sudo apt-get update && "
                           "sudo apt-get install -y --no-install-recommends docker-compose\n")


def test_tools_as_root_installs_the_missing_packages(fake_system: tuple[Path, Path]) -> None:
    bin_dir, log = fake_system
    executable(bin_dir / "java", "#!/bin/sh\n")
    executable(bin_dir / "mvn", "#!/bin/sh\n")
    done = run_tools(bin_dir, 0)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        "update -qq", "install -y -qq --no-install-recommends prometheus docker-compose"]
    assert {"promtool", "prometheus", "docker-compose"} <= {p.name for p in bin_dir.iterdir()}


def test_tools_as_root_says_so_when_the_install_did_not_bring_them(
    fake_system: tuple[Path, Path],
) -> None:
    bin_dir, _ = fake_system
    executable(bin_dir / "apt-get", "#!/bin/sh\nexit 0\n")  # installs nothing
    done = run_tools(bin_dir, 0)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "make test: still not on PATH after 'apt-get install -y --no-install-recommends "
        "openjdk-17-jre-headless maven prometheus docker-compose': "
        "java mvn promtool prometheus docker-compose")


def test_tools_is_silent_when_everything_is_there(fake_system: tuple[Path, Path]) -> None:
    bin_dir, log = fake_system
    for programs in PACKAGES.values():
        for program in programs:
            executable(bin_dir / program, "#!/bin/sh\n")
    done = run_tools(bin_dir, 1000)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert not log.exists()
