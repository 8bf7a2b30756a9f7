"""Fixtures of the Kafka tier: a real broker, fresh topics per test, worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from streams.kafka.client import create_topics, reachable
from streams.kafka.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def bootstrap() -> str:
    """The broker: KAFKA_BOOTSTRAP_SERVERS (deploy/ci/test.sh starts one for CI)."""
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if servers and reachable(servers):
        return servers
    if os.environ.get("SELLERPERF_REQUIRE_KAFKA") == "1":
        pytest.fail(f"no Kafka broker at {servers!r}; the Kafka tier must run here")
    pytest.skip("no Kafka broker (run deploy/kafka/start.sh and set KAFKA_BOOTSTRAP_SERVERS)")


@pytest.fixture
def settings(bootstrap: str) -> Settings:
    """Settings with topics and a consumer group of this test's own."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    base = Settings(bootstrap_servers=bootstrap, app_id=prefix, partitions=4,
                    store="memory://", standby_replicas=0,
                    # Synthetic history moves days of event time per second of wall time, so
                    # records produced while the worker reads can be reordered by the
                    # producer by hours of event time: allow three days.
                    allowed_lateness_ms=3 * 86_400_000)
    s = replace(base, **{f: f"{prefix}-{getattr(base, f)}" for f in (
        "topic_orders", "topic_shipments", "topic_messages", "topic_refunds", "topic_alerts",
        "topic_metrics", "topic_dead_letters")})
    asyncio.run(create_topics(s))
    return s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WorkerProcess:
    """A `sellerperf worker` subprocess."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def get(self, path: str) -> tuple[int, bytes]:
        """GET a path of the worker's web server: (status, body)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def metric(self, name: str) -> float:
        """The value of an unlabelled metric on the worker's /metrics."""
        status, body = self.get("/metrics")
        assert status == 200, body[:300]
        for line in body.decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not on /metrics")

    def metric_sum(self, name: str) -> float:
        """The sum of a metric's samples over its labels on the worker's /metrics."""
        status, body = self.get("/metrics")
        assert status == 200, body[:300]
        return sum(float(line.rpartition(" ")[2]) for line in body.decode().splitlines()
                   if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"))

    def taken(self) -> float:
        """Valid input records this process took: events offered to the engine, plus those
        skipped as applied before a restart."""
        return (self.metric_sum("sellerperf_events_consumed_total")
                + self.metric_sum("sellerperf_redelivered_records_skipped_total"))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the worker and wait for it to end."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self) -> str:
        """The end of its log, for failure messages."""
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Started workers, killed at the end of the test."""
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.kill()


def start_worker(settings: Settings, tmp_path: Path, started: list[WorkerProcess],
                 name: str = "w1", store: str | None = None,
                 consume: str | None = None, evict: str | None = None) -> WorkerProcess:
    """Start a worker process with these settings and wait until its web server answers."""
    port = free_port()
    data = tmp_path / name
    data.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "SELLERPERF_APP_ID": settings.app_id,
        "SELLERPERF_PARTITIONS": str(settings.partitions),
        "SELLERPERF_STORE": store or settings.store,
        "SELLERPERF_STANDBY_REPLICAS": str(settings.standby_replicas),
        "SELLERPERF_DATA_DIR": str(data),
        "SELLERPERF_WEB_PORT": str(port),
        "SELLERPERF_ALLOWED_LATENESS_MS": str(settings.allowed_lateness_ms),
        "SELLERPERF_LOG_LEVEL": "info",
        "SELLERPERF_IDLE_FLUSH_S": "2",
    })
    if consume:
        env["SELLERPERF_CONSUME"] = consume
    if evict:
        env["SELLERPERF_EVICT"] = evict
    for f in ("topic_orders", "topic_shipments", "topic_messages", "topic_refunds",
              "topic_alerts", "topic_metrics", "topic_dead_letters"):
        env[f"SELLERPERF_{f.upper()}"] = getattr(settings, f)
    log = data / "worker.log"
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    worker = WorkerProcess(proc, port, log)
    started.append(worker)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode}:\n{worker.tail()}")
        try:
            status, _ = worker.get("/health/live")  # needs no token
            if status == 200:
                return worker
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"worker did not answer within 60 s:\n{worker.tail()}")
