"""Deployment files: Prometheus configuration, rules and their unit tests, Grafana, compose.

Needs Debian's `prometheus` (promtool) and `docker-compose` packages, no broker. Without
them these tests skip, unless SELLERPERF_REQUIRE_TOOLS=1, where they fail. That the panel
expressions return data from a real worker is tests/kafka/test_prometheus.py's job.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "sellerperf.json"
COMPOSE = ROOT / "docker-compose.yml"

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
