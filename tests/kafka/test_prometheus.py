"""Debian's Prometheus scraping a real worker: every dashboard panel and recording rule has data.

The worker is fed simulated events (and a few malformed records, so there are dead letters)
through the real broker; Prometheus runs deploy/prometheus/prometheus.local.yml with the
worker as its target and 1 s scrape and rule intervals, on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT, WorkerProcess, free_port, start_worker
from kafka_helpers import records_of, send, wait_until_done
from prometheus_client.parser import text_string_to_metric_families

from streams.kafka.settings import Settings
from streams.offline.simulate import SimulationConfig, iter_ndjson

pytestmark = pytest.mark.kafka

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "sellerperf.json"

LINES = [line.rstrip(b"\n") for line in iter_ndjson(SimulationConfig(
    seed=11, sellers=20, days=30, orders_per_seller_day=8.0, degrading_fraction=0.3))]
SELLERS = sorted({orjson.loads(line)["seller_id"] for line in LINES})

# Records the worker must dead-letter: (key, value).
MALFORMED: list[tuple[bytes | None, bytes]] = [
    (b"S00001", b"{not json"),
    (b"S00002", b'{"event_id":"bad-2","type":"order_teleported",'
                b'"event_time":"2026-01-06T00:00:00Z","seller_id":"S00002"}'),
    (None, b'{"event_id":"bad-3","type":"delivered","event_time":"2026-01-07T00:00:00Z",'
           b'"seller_id":"S00003","order_id":"o"}'),
    (b"S00004", b'{"event_id":"bad-4","type":"delivered","event_time":"2026-01-08T00:00:00Z",'
                b'"seller_id":"S00005","order_id":"o"}'),
]

# What Grafana puts in place of its variables (the dashboard's defaults: 15 s scrapes, 1 h).
GRAFANA_VARS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
JOB = "sellerperf"


def tool(name: str) -> str:
    """Path of a binary; skip without it unless SELLERPERF_REQUIRE_TOOLS=1."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("SELLERPERF_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{name} not found; install Debian's prometheus package")
    pytest.skip(f"{name} not found (apt-get install prometheus)")


def panel_exprs() -> list[tuple[str, str]]:
    """(panel title, expression) of every target of every panel, rows' panels included."""
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            out.extend((p["title"], t["expr"]) for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))

    walk(json.loads(DASHBOARD.read_text())["panels"])
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's variable forms $name and ${name} replaced by values[name]."""
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise AssertionError(f"no value for ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def seeded_records(settings: Settings) -> list[tuple[str, bytes | None, bytes]]:
    """The simulated events with the malformed records spread among them."""
    records: list[tuple[str, bytes | None, bytes]] = list(records_of(LINES, settings))
    for i, (key, value) in enumerate(MALFORMED):
        records.insert(1000 + 3000 * i, (settings.topic_orders, key, value))
    return records


class QueryError(Exception):
    """Prometheus answered with an error (a bad expression, say)."""


class Prometheus:
    """A `prometheus` process and its HTTP API."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a successful answer."""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
        if body.get("status") != "success":
            raise QueryError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's series (a scalar answer counts as one series)."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[list[str]], Prometheus]]:
    """Starts Prometheus on prometheus.local.yml aimed at given targets; kills it at the end."""
    binary = tool("prometheus")
    started: list[subprocess.Popen[bytes]] = []

    def start(targets: list[str]) -> Prometheus:
        home = tmp_path / "prometheus"
        home.mkdir()
        # Rule paths in the file are relative to it: give the copy the same neighbours.
        (home / "rules").symlink_to(PROMETHEUS_DIR / "rules")
        config = (PROMETHEUS_DIR / "prometheus.local.yml").read_text()
        config, n = re.subn(r"(?m)^(\s*)(scrape|evaluation)_interval: \S+$",
                            r"\1\2_interval: 1s", config)
        assert n == 2, "prometheus.local.yml: expected scrape_interval and evaluation_interval"
        config, n = re.subn(r"(?m)^(\s*- targets:\n)(?:\s*- \S+:\d+\n)+",
                            lambda m: m.group(1) + "".join(
                                f"          - {t}\n" for t in targets), config)
        assert n == 1, "prometheus.local.yml: expected one targets list"
        (home / "prometheus.yml").write_text(config)
        port = free_port()
        log = home / "prometheus.log"
        proc = subprocess.Popen(
            [binary, f"--config.file={home / 'prometheus.yml'}",
             f"--storage.tsdb.path={home / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            cwd=home, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        started.append(proc)
        prom = Prometheus(proc, port, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited with {proc.returncode}:\n{prom.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return prom
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"prometheus not ready within 30 s:\n{prom.tail()}")

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, why: Callable[[], str]
             ) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout_s:.0f} s:\n{why()}")


def epoch(stamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 time as Prometheus writes it (ns precision)."""
    m = re.fullmatch(r"([^.Z+]+)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", stamp)
    assert m, stamp
    whole = datetime.fromisoformat(m.group(1) + m.group(3).replace("Z", "+00:00"))
    return whole.timestamp() + float("0." + (m.group(2) or "0"))


def has_data(series: list[dict[str, Any]]) -> bool:
    """At least one series with a number that is not NaN."""
    return any(not math.isnan(float(s["value"][1])) for s in series)


def test_every_dashboard_panel_and_recording_rule_returns_data(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path,
    prometheus: Callable[[list[str]], Prometheus]
) -> None:
    worker = start_worker(settings, tmp_path, workers)
    prom = prometheus([f"127.0.0.1:{worker.port}"])

    def target_up() -> bool:
        active = prom.api("targets")["activeTargets"]
        return any(t["labels"].get("job") == JOB and t["health"] == "up" for t in active)

    wait_for("prometheus did not scrape the worker", target_up, 20,
             lambda: json.dumps(prom.api("targets"), indent=1) + worker.tail())

    send(settings, seeded_records(settings))
    wait_until_done(settings, timeout_s=60)
    done = time.time()

    # Rules loaded as written, all healthy, and evaluated since the worker finished.
    groups = prom.api("rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    recording = [r for r in rules if r["type"] == "recording"]
    alerting = [r for r in rules if r["type"] == "alerting"]
    files = {g["file"].rsplit("/", 1)[-1] for g in groups}
    assert files == {"recording.yml", "alerts.yml"}, files
    written = (PROMETHEUS_DIR / "rules" / "recording.yml").read_text()
    assert len(recording) == len(re.findall(r"(?m)^\s*- record:", written))
    assert len(alerting) == len(re.findall(
        r"(?m)^\s*- alert:", (PROMETHEUS_DIR / "rules" / "alerts.yml").read_text()))
    for r in alerting:
        assert r["duration"] > 0, f"{r['name']}: no `for:`"
        assert r["labels"].get("severity") in ("critical", "warning", "info"), r["name"]
        assert r["annotations"].get("summary") and r["annotations"].get("description"), r["name"]

    def rules_evaluated_since_done() -> bool:
        fresh = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        return all(r["health"] == "ok" and "lastEvaluation" in r
                   and epoch(r["lastEvaluation"]) > done + 1 for r in fresh)

    wait_for("rules were not all evaluated, healthy, after the worker finished",
             rules_evaluated_since_done, 20,
             lambda: json.dumps(prom.api("rules"), indent=1)[:4000] + prom.tail())

    def scraped_often() -> bool:
        got = prom.query(f'count_over_time(up{{job="{JOB}"}}[5m])')
        return bool(got) and float(got[0]["value"][1]) >= 5
    wait_for("fewer than 5 scrapes", scraped_often, 15, prom.tail)

    # The `metric` variable: label_values(sellerperf_sellers, metric); pick a rate with
    # alerts so that the per-rate panels all have something to show.
    choices = prom.api("label/metric/values", **{"match[]": "sellerperf_sellers"})
    assert len(choices) >= 5, choices
    alerted = prom.query("sum by (metric) (sellerperf_alerts_emitted_total)")
    assert alerted, "the simulated history should raise seller alerts"
    metric = max(alerted, key=lambda s: float(s["value"][1]))["metric"]["metric"]
    assert metric in choices, (metric, choices)
    values = dict(GRAFANA_VARS, metric=metric)

    queries = {f"panel {title!r}: {expr}": substitute(expr, values)
               for title, expr in panel_exprs()}
    for r in recording:
        queries[f"recording rule {r['name']} (expression)"] = r["query"]
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(r.get("labels", {}).items()))
        queries[f"recording rule {r['name']} (recorded series)"] = \
            f"{r['name']}{{{labels}}}" if labels else r["name"]
    assert len(panel_exprs()) >= 20

    # Every expression answers with at least one number (not NaN); rules and scrapes go on
    # meanwhile, so give late ones a few more rounds.
    errors: dict[str, str] = {}
    pending = dict(queries)
    deadline = time.monotonic() + 20
    while pending and time.monotonic() < deadline:
        for name, expr in list(pending.items()):
            try:
                if has_data(prom.query(expr)):
                    del pending[name]
            except QueryError as e:
                errors[name] = f"{expr}\n    {e}"
                del pending[name]
        if pending:
            time.sleep(1)
    problems = [f"  {k}\n    {v}" for k, v in errors.items()]
    problems += [f"  {k}: no data\n    {v}" for k, v in pending.items()]
    assert not problems, "\n".join(problems)

    # Sanity of what the panels show: dead letters by reason, every topic consumed.
    reasons = {s["metric"]["reason"] for s in prom.query(
        "sum by (reason) (sellerperf_invalid_events_total) > 0")}
    assert {"not_json", "unknown_type", "missing_key", "key_mismatch"} <= reasons, reasons
    topics = {s["metric"]["topic"] for s in prom.query(
        "sum by (topic) (sellerperf_events_consumed_total)")}
    assert topics == set(settings.input_topics), topics
    # The batches' time went into the engines, their outputs and their state.
    stages = {s["metric"]["stage"]: float(s["value"][1]) for s in prom.query(
        "sum by (stage) (sellerperf_batch_stage_seconds_total)")}
    assert set(stages) == {"compute", "publish", "state"}, stages
    assert all(v > 0 for v in stages.values()), stages
    total = prom.query(f'sum(sellerperf:sellers:sum{{metric="{metric}"}})')
    assert float(total[0]["value"][1]) == len(SELLERS)
    assert prom.proc.poll() is None, prom.tail()


def test_no_exported_metric_carries_a_seller_id(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    worker = start_worker(settings, tmp_path, workers)
    send(settings, seeded_records(settings))
    wait_until_done(settings, timeout_s=60)
    status, body = worker.get("/metrics")
    assert status == 200, body[:300]
    text = body.decode()
    families = list(text_string_to_metric_families(text))
    names = {f.name for f in families}
    assert {"sellerperf_sellers", "sellerperf_seller_rate_ratio",
            "sellerperf_events_consumed", "sellerperf_invalid_events"} <= names, names
    sellers = set(SELLERS)
    samples = [s for f in families for s in f.samples]
    for s in samples:
        for label, value in s.labels.items():
            assert "seller" not in label.lower(), f"{s.name}: label {label}={value!r}"
            assert value not in sellers, f"{s.name}: label {label} carries seller id {value!r}"
            assert not re.fullmatch(r"S\d{5}", value), f"{s.name}: {label}={value!r}"
    # Bounded cardinality: the population appears as counts, one per rate and status.
    population = [s for s in samples if s.name == "sellerperf_sellers"]
    by_metric: dict[str, float] = {}
    for s in population:
        by_metric[s.labels["metric"]] = by_metric.get(s.labels["metric"], 0) + s.value
    assert by_metric and all(v == len(SELLERS) for v in by_metric.values()), by_metric
    assert len(samples) < 1000, f"{len(samples)} samples for {len(SELLERS)} sellers"
    # And the exposition follows Prometheus's naming and format conventions.
    lint = subprocess.run([tool("promtool"), "check", "metrics"], input=body,
                          capture_output=True, timeout=30)
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), \
        (lint.stdout + lint.stderr).decode()
