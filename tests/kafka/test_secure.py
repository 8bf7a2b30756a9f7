"""On a broker with SASL_SSL (SCRAM-SHA-512 over TLS) and ACLs: the CLI and the worker work
with the documented settings, the worker with exactly the documented ACLs, and a wrong
password is one line.

The module starts its own secured broker (deploy/kafka/start.sh, KAFKA_SECURITY=sasl_ssl)
on SELLERPERF_SECURE_KAFKA_PORT and SELLERPERF_SECURE_KAFKA_CONTROLLER_PORT (default: two
free ports), in a temporary data dir, and stops and wipes it at the end.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError
from conftest import WorkerProcess, free_port, start_worker

from streams.core.events import decode_event, event_time_ms
from streams.core.targets import load_profile
from streams.kafka.client import _client_args, in_step, produce, topic_for
from streams.kafka.settings import Settings
from streams.offline.replay import replay_lines
from streams.offline.simulate import SimulationConfig, iter_ndjson

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kafka"
DOC = ROOT / "docs" / "security.md"
WORKER_USER = "sellerperf-worker"
WORKER_PASSWORD = "worker-" + uuid.uuid4().hex[:12]
SECURITY_ENV = ("SELLERPERF_SECURITY_PROTOCOL", "SELLERPERF_SASL_MECHANISM",
                "SELLERPERF_SSL_CAFILE")
LINES = [line.rstrip(b"\n") for line in iter_ndjson(SimulationConfig(
    seed=5, sellers=12, days=40, orders_per_seller_day=10.0, degrading_fraction=0.3))]
TOOLS_JVM = "-Xmx192m -XX:TieredStopAtLevel=1"
"""The Kafka tools live a few seconds: the client compiler alone starts them faster."""
LATENESS_MS = 3 * 86_400_000
"""As in the plain Kafka tier: history produced at full speed is days of event time a
second, so records of different topics can be hours apart."""


@dataclass(frozen=True)
class SecureBroker:
    """The secured broker this module started."""

    bootstrap: str
    """host:port of its SASL_SSL listener."""
    env: dict[str, str]
    """What start.sh printed: the client settings and KAFKA_ADMIN_CONFIG."""
    admin_password: str
    """The super user's SCRAM password."""


def _require(what: str) -> None:
    if os.environ.get("SELLERPERF_REQUIRE_KAFKA") == "1":
        pytest.fail(f"{what}; the Kafka tier must run here")
    pytest.skip(what)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A single-node broker with SASL_SSL and ACLs, started for this module."""
    for tool in ("java", "openssl"):
        if not shutil.which(tool):
            _require(f"{tool} not found: no secured broker")
    port = int(os.environ.get("SELLERPERF_SECURE_KAFKA_PORT") or free_port())
    cport = int(os.environ.get("SELLERPERF_SECURE_KAFKA_CONTROLLER_PORT") or free_port())
    data = tmp_path_factory.mktemp("kafka-secure")
    env = {**os.environ, "KAFKA_SECURITY": "sasl_ssl", "KAFKA_PORT": str(port),
           "KAFKA_CONTROLLER_PORT": str(cport), "KAFKA_DATA_DIR": str(data),
           "KAFKA_START_TIMEOUT": "90", "KAFKA_TOOLS_HEAP_OPTS": TOOLS_JVM,
           # Kafka's own format (base64url of 16 bytes): one JVM less than random-uuid.
           "KAFKA_CLUSTER_ID": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]}
    try:
        started = subprocess.run([DEPLOY / "start.sh"], env=env, capture_output=True,
                                 text=True, timeout=240)
        assert started.returncode == 0, started.stderr[-3000:]
        printed = dict(line.split("=", 1) for line in started.stdout.splitlines())
        yield SecureBroker(printed.pop("KAFKA_BOOTSTRAP_SERVERS"), printed,
                           (data / "admin.password").read_text().strip())
    finally:
        subprocess.run([DEPLOY / "stop.sh", "--wipe"], env=env, capture_output=True,
                       timeout=60)


def client_env(broker: SecureBroker, user: str, password: str) -> dict[str, str]:
    """The documented settings (docs/security.md) of a client logging in as `user`."""
    return {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            **{k: broker.env[k] for k in SECURITY_ENV},
            "SELLERPERF_SASL_USERNAME": user, "SELLERPERF_SASL_PASSWORD": password}


def settings_for(broker: SecureBroker, prefix: str) -> Settings:
    """Admin settings with topics and a consumer group of their own. The topics do not start
    with the app id, so the prefixed ACL of Faust's own topics does not cover them."""
    base = Settings.from_env(client_env(broker, "admin", broker.admin_password))
    base = replace(base, app_id=f"app-{prefix}", partitions=4, store="memory://",
                   standby_replicas=0, allowed_lateness_ms=LATENESS_MS)
    return replace(base, **{f: f"{prefix}-{getattr(base, f)}" for f in (
        "topic_orders", "topic_shipments", "topic_messages", "topic_refunds", "topic_alerts",
        "topic_metrics", "topic_dead_letters")})


def topic_env(settings: Settings) -> dict[str, str]:
    return {f"SELLERPERF_{f.upper()}": getattr(settings, f) for f in (
        "topic_orders", "topic_shipments", "topic_messages", "topic_refunds", "topic_alerts",
        "topic_metrics", "topic_dead_letters")} | {"SELLERPERF_APP_ID": settings.app_id}


def sellerperf(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.Popen[str]:
    """Start `sellerperf ARGS` with these settings on top of a clean environment."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("SELLERPERF_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    return subprocess.Popen([sys.executable, "-m", "streams.cli", *args], cwd=ROOT,
                            env=base | env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


# -- Reading the broker back, as the admin ----------------------------------------------------

async def _progress(settings: Settings) -> tuple[int, int]:
    consumer = AIOKafkaConsumer(**_client_args(settings))
    admin = AIOKafkaAdminClient(**_client_args(settings))
    await consumer.start()
    await admin.start()
    try:
        tps = [TopicPartition(t, p) for t in settings.input_topics
               for p in range(settings.partitions)]
        ends = await consumer.end_offsets(tps)
        try:
            offsets = await admin.list_consumer_group_offsets(settings.app_id)
        except GroupCoordinatorNotAvailableError:
            offsets = {}
        done = sum(max(0, offsets[tp].offset) for tp in tps if tp in offsets)
        return done, sum(ends.values())
    finally:
        await consumer.stop()
        await admin.close()


def wait_until_done(settings: Settings, worker: WorkerProcess, timeout_s: float = 60) -> None:
    """Until the worker group has committed every input record."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, f"worker exited:\n{worker.tail()}"
        done, total = asyncio.run(_progress(settings))
        if total and done >= total:
            return
        time.sleep(1.0)
    raise AssertionError(f"worker did not finish: {asyncio.run(_progress(settings))}\n"
                         f"{worker.tail()}")


async def _read(settings: Settings, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **_client_args(settings))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning()
        out: dict[TopicPartition, list[bytes]] = {tp: [] for tp in tps}
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + 30
        while remaining:
            assert time.monotonic() < deadline, f"{topic}: could not read to {ends}"
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                out[tp] += [m.value for m in messages if m.value is not None]
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return [v for tp in tps for v in out[tp]]
    finally:
        await consumer.stop()


def send(settings: Settings, lines: list[bytes]) -> None:
    """Produce event lines to their input topics, the topics in step, as the admin."""
    records = []
    for line in lines:
        event = orjson.loads(line)
        records.append((topic_for(event["type"], settings), event["seller_id"].encode(), line,
                        event_time_ms(decode_event(line))))
    asyncio.run(produce(settings, in_step(records, 86_400_000), linger_ms=5))


def by_seller(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per seller, its alerts in order; an id delivered again (after kill -9) kept once."""
    out: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for a in alerts:
        if a["alert_id"] not in seen:
            seen.add(a["alert_id"])
            out.setdefault(a["seller_id"], []).append(a)
    return out


# -- The documented ACLs ---------------------------------------------------------------------

def documented_commands() -> list[str]:
    """The commands of docs/security.md's worker-ACL block, one per line."""
    text = DOC.read_text()
    match = re.search(r"<!-- worker-acls:[^>]*-->\s*```sh\n(.*?)```", text, re.S)
    assert match, f"{DOC}: no worker-acls block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def grant(broker: SecureBroker, settings: Settings, commands: list[str]) -> None:
    """Run these documented commands as the admin, side by side (a JVM each)."""
    env = {**os.environ, "BOOTSTRAP": broker.bootstrap,
           "ADMIN_CONFIG": broker.env["KAFKA_ADMIN_CONFIG"], "APP_ID": settings.app_id,
           "PRINCIPAL": f"User:{WORKER_USER}", "WORKER_PASSWORD": WORKER_PASSWORD,
           "INPUTS": " ".join(f"--topic {t}" for t in settings.input_topics),
           "OUTPUTS": " ".join(f"--topic {t}" for t in (
               settings.topic_alerts, settings.topic_metrics, settings.topic_dead_letters)),
           "KAFKA_TOOLS_HEAP_OPTS": TOOLS_JVM}
    procs = [subprocess.Popen(["bash", "-c", c], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for c in commands]
    for command, proc in zip(commands, procs, strict=True):
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{command}\n{out}"


# -- Tests -----------------------------------------------------------------------------------

def test_a_wrong_password_stops_every_command_at_once_with_one_line(
    broker: SecureBroker, tmp_path: Path
) -> None:
    env = client_env(broker, "admin", "not-the-password") | {
        "SELLERPERF_DATA_DIR": str(tmp_path), "SELLERPERF_WEB_PORT": str(free_port()),
        "SELLERPERF_STORE": "memory://"}
    commands = {"topics create": ("topics", "create"),
                "simulate --to kafka": ("simulate", "--sellers", "2", "--days", "1",
                                        "--to", "kafka"),
                "worker": ("worker",)}
    started = time.monotonic()
    procs = {name: sellerperf(*args, env=env) for name, args in commands.items()}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{name}: still running after 30 s with a wrong password")
        lines = (out + err).strip().splitlines()
        assert proc.returncode == 2, (name, proc.returncode, out, err)
        assert len(lines) == 1, (name, lines)
        # "sellerperf: ..." or, from a subcommand, "sellerperf topics: ..."
        message = lines[0].split(": ", 1)[1]
        assert lines[0].startswith("sellerperf"), (name, lines)
        assert message.startswith(f"Kafka at {broker.bootstrap} refused the login of user "
                                  "'admin' (SCRAM-SHA-512)"), (name, lines)
        assert "SELLERPERF_SASL_PASSWORD" in lines[0]
    assert time.monotonic() - started < 30


def test_topics_create_and_simulate_work_with_the_documented_settings(
    broker: SecureBroker,
) -> None:
    settings = settings_for(broker, f"c{uuid.uuid4().hex[:6]}")
    env = client_env(broker, "admin", broker.admin_password) | topic_env(settings)
    created = sellerperf("topics", "create", env=env)
    out, err = created.communicate(timeout=60)
    assert created.returncode == 0, err
    assert sorted(re.findall(r"^created (\S+) ", out, re.M)) == sorted(
        (*settings.input_topics, settings.topic_alerts, settings.topic_metrics,
         settings.topic_dead_letters)), out

    config = ("--sellers", "3", "--days", "5", "--seed", "11")
    simulated = sellerperf("simulate", *config, "--to", "kafka", env=env)
    _, err = simulated.communicate(timeout=90)
    assert simulated.returncode == 0, err
    expected = sum(1 for _ in iter_ndjson(SimulationConfig(seed=11, sellers=3, days=5)))
    assert f"Produced {expected:,} events" in err
    got = sum(len(asyncio.run(_read(settings, t))) for t in settings.input_topics)
    assert got == expected


def test_the_worker_runs_with_exactly_the_documented_acls(
    broker: SecureBroker, workers: list[WorkerProcess], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_for(broker, f"w{uuid.uuid4().hex[:6]}")
    created = sellerperf("topics", "create", env=client_env(
        broker, "admin", broker.admin_password) | topic_env(settings))
    assert created.wait(timeout=60) == 0
    grant(broker, settings, documented_commands())
    for key, value in client_env(broker, WORKER_USER, WORKER_PASSWORD).items():
        monkeypatch.setenv(key, value)

    result = replay_lines(enumerate(LINES, 1), load_profile(settings.target_profile),
                          settings.allowed_lateness_ms, settings.partitions, flush=True)
    want = by_seller([msgspec.to_builtins(a) for a in result.alerts])
    assert sum(map(len, want.values())) >= 5, "the log must raise alerts for this to mean much"

    # Two thirds, then kill -9 and a restart that must restore the state from the changelog
    # (memory store: nothing local survives) before the last third.
    cut = len(LINES) * 2 // 3
    send(settings, LINES[:cut])
    worker = start_worker(settings, tmp_path, workers)
    wait_until_done(settings, worker)
    assert asyncio.run(_read(settings, settings.topic_alerts)), "no alert from the first part"
    assert asyncio.run(_read(settings, f"{settings.app_id}-state-changelog")), "no state"
    worker.kill(signal.SIGKILL)

    worker = start_worker(settings, tmp_path, workers, name="w2")
    send(settings, LINES[cut:])
    wait_until_done(settings, worker)
    got = by_seller([orjson.loads(v) for v in asyncio.run(_read(settings,
                                                                  settings.topic_alerts))])
    assert got == want
    assert "AuthorizationFailed" not in worker.tail()
