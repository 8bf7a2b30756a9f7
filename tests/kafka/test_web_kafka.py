"""A real worker's web view: JSON errors, the bearer token, /metrics left open, idle
connections closed, and readiness once its partitions are restored after a kill -9."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import WorkerProcess, start_worker
from kafka_helpers import records_of, send, wait_until_done

from streams.core.partitioner import partition_for
from streams.kafka.settings import Settings
from streams.offline.simulate import SimulationConfig, iter_ndjson

pytestmark = pytest.mark.kafka

TOKEN = "kafka-tier-token"
IDLE_S = 1.0
LINES = [line.rstrip(b"\n") for line in iter_ndjson(SimulationConfig(
    seed=5, sellers=16, days=5, orders_per_seller_day=3.0))]
SELLERS = sorted({orjson.loads(line)["seller_id"] for line in LINES})


def get(worker: WorkerProcess, path: str, token: str | None = None) -> tuple[int, Any]:
    """(status, parsed JSON body, or the text of another body) of a GET."""
    req = urllib.request.Request(f"http://127.0.0.1:{worker.port}{path}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, body, kind = r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        status, body, kind = e.code, e.read(), e.headers["Content-Type"]
    return status, orjson.loads(body) if kind.startswith("application/json") else body.decode()


def wait_ready(worker: WorkerProcess, timeout_s: float = 60.0) -> dict[str, Any]:
    """/health/ready's body once it answers 200."""
    deadline = time.monotonic() + timeout_s
    body: Any = None
    while time.monotonic() < deadline:
        status, body = get(worker, "/health/ready")
        if status == 200:
            return dict(body)
        assert status == 503 and body["status"] in ("assigning", "restoring"), body
        time.sleep(0.5)
    raise AssertionError(f"not ready within {timeout_s} s: {body}; {worker.tail()}")


@pytest.fixture
def secured(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The worker started with a token and a short idle timeout."""
    monkeypatch.setenv("SELLERPERF_HTTP_TOKEN", TOKEN)
    monkeypatch.setenv("SELLERPERF_HTTP_IDLE_TIMEOUT_S", str(IDLE_S))
    return settings


def test_a_worker_answers_in_json_needs_its_token_and_leaves_metrics_open(
    secured: Settings, workers: list[WorkerProcess], tmp_path: Path,
) -> None:
    send(secured, records_of(LINES, secured))
    worker = start_worker(secured, tmp_path, workers)
    wait_until_done(secured)
    for path in ("/sellers", "/sellers/", "/nope", "/table/state/"):
        status, body = get(worker, path, TOKEN)
        assert status == 404 and body["error"] == "not_found" and set(body) == {
            "error", "detail"}, (path, body)
    seller = SELLERS[0]
    for path in (f"/sellers/{seller}", "/health"):
        status, body = get(worker, path)
        assert (status, body["error"]) == (401, "unauthorized"), (path, body)
        assert get(worker, path, "not-it")[0] == 401
    status, body = get(worker, f"/sellers/{seller}", TOKEN)
    assert status == 200 and body["seller_id"] == seller
    status, body = get(worker, "/health", TOKEN)
    assert status == 200 and body["partitions"] == list(range(secured.partitions))
    status, body = get(worker, "/metrics")
    assert status == 200 and "sellerperf_" in body
    assert get(worker, "/health/live") == (200, {"status": "live"})


def test_a_worker_closes_idle_connections(
    secured: Settings, workers: list[WorkerProcess], tmp_path: Path,
) -> None:
    worker = start_worker(secured, tmp_path, workers)
    conns = [socket.create_connection(("127.0.0.1", worker.port), timeout=5)
             for _ in range(20)]
    started = time.monotonic()
    try:
        for s in conns:
            s.settimeout(max(0.01, started + IDLE_S + 3 - time.monotonic()))
            assert s.recv(1024) == b"", "an idle connection must be closed, not answered"
        took = time.monotonic() - started
    finally:
        for s in conns:
            s.close()
    assert IDLE_S * 0.5 < took < IDLE_S + 3, took


def test_a_restarted_worker_is_ready_once_restored_and_answers_for_every_seller(
    secured: Settings, workers: list[WorkerProcess], tmp_path: Path,
) -> None:
    partitions = {partition_for(s, secured.partitions) for s in SELLERS}
    assert partitions == set(range(secured.partitions)), "every partition needs sellers"
    half = len(LINES) // 2
    send(secured, records_of(LINES[:half], secured))
    first = start_worker(secured, tmp_path, workers)
    wait_until_done(secured)
    ready = wait_ready(first)
    assert ready == {"status": "ready",
                     "partitions": {str(p): "ready" for p in range(secured.partitions)}}
    before = {s: get(first, f"/sellers/{s}", TOKEN) for s in SELLERS}
    assert all(status == 200 for status, _ in before.values()), before
    first.kill()
    second = start_worker(secured, tmp_path, workers, name="w2")
    # More input for every partition: a partition that waits for its first record to be
    # restored is then restored too.
    send(secured, records_of(LINES[half:], secured))
    wait_until_done(secured)
    ready = wait_ready(second)
    assert set(ready["partitions"]) == {str(p) for p in range(secured.partitions)}
    after = {s: get(second, f"/sellers/{s}", TOKEN) for s in SELLERS}
    assert all(status == 200 for status, _ in after.values()), after
