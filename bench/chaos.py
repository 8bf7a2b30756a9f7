"""Chaos run: real workers on a real broker under a seeded fault schedule (kill -9,
SIGTERM hand-over, broker restart, duplicates, malformed records, a stalled topic),
compared with the offline replay of exactly the records produced.

    python bench/chaos.py [--short] [--seed N] [--json out.json]

starts (or reuses) the broker of deploy/kafka/start.sh (KAFKA_PORT, KAFKA_DATA_DIR, ...),
restarts it with stop.sh / start.sh on the same data dir, prints a table and exits 1
unless every alert came exactly once and right, every final rate equals the replay's
and every malformed record is in the dead-letter topic.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chaos_records import KEY_KINDS, MALFORMED, Log, Produced, build

from streams.core.targets import load_profile
from streams.kafka.client import create_topics, reachable
from streams.kafka.settings import Settings
from streams.offline.replay import replay_lines
from streams.offline.simulate import SimulationConfig

ROOT = Path(__file__).resolve().parents[1]
KAFKA = ROOT / "deploy" / "kafka"
DAY_MS = 86_400_000
TOPIC_FIELDS = ("topic_orders", "topic_shipments", "topic_messages", "topic_refunds",
                "topic_alerts", "topic_metrics", "topic_dead_letters")


@dataclass(frozen=True, slots=True)
class Plan:
    """What one chaos run does."""

    sellers: int
    """Simulated sellers."""
    days: int
    """Simulated days."""
    orders_per_seller_day: float
    """Simulated order rate."""
    steps: int
    """Parts the log is produced in (faults land during and between them)."""
    kills: int
    """kill -9 of a worker, under load."""
    sigterms: int
    """SIGTERM hand-overs of a worker, under load."""
    broker_restarts: int
    """stop.sh then start.sh on the same data dir, between steps."""
    rate_per_s: float
    """Records produced per second."""
    seed: int = 16
    """Seeds the log, the duplicates, the malformed records and the schedule."""
    duplicate_ratio: float = 0.10
    """Share of valid records produced twice."""
    malformed_each: int = 1
    """Records of each malformed kind (the oversized one: always one)."""
    oversized_bytes: int = 900_000
    """Size of the oversized record (under the broker's 1 MB limit)."""
    stall_hours: float = 12.0
    """Event time held back on the stalled topic."""
    lateness_ms: int = 3 * DAY_MS
    """The workers' allowed lateness."""
    idle_flush_s: float = 2.0
    """The workers' SELLERPERF_IDLE_FLUSH_S."""
    standby_replicas: int = 0
    """The workers' standby replicas."""
    partitions: int = 4
    """Partitions of every topic."""
    finish_timeout_s: float = 240.0
    """How long the workers get to commit everything once all is produced."""


SHORT = Plan(sellers=16, days=40, orders_per_seller_day=10.0, steps=4, kills=3, sigterms=1,
             broker_restarts=0, rate_per_s=3000.0, finish_timeout_s=150.0)
LONG = Plan(sellers=100, days=60, orders_per_seller_day=8.0, steps=12, kills=16, sigterms=1,
            broker_restarts=1, rate_per_s=3000.0, malformed_each=20,
            standby_replicas=1, finish_timeout_s=600.0)


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Broker:
    """The broker of deploy/kafka/start.sh, restarted on its own data dir."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = dict(os.environ if env is None else env)

    def start(self) -> str:
        """Start it (or find it running); its bootstrap servers."""
        done = subprocess.run([str(KAFKA / "start.sh")], env=self.env, capture_output=True,
                              text=True, timeout=240)
        if done.returncode != 0:
            raise RuntimeError(f"deploy/kafka/start.sh failed:\n{done.stderr[-2000:]}")
        return done.stdout.strip().rpartition("=")[2]

    def stop(self) -> None:
        done = subprocess.run([str(KAFKA / "stop.sh")], env=self.env, capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"deploy/kafka/stop.sh failed:\n{done.stderr[-2000:]}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    """A `sellerperf worker` process; restarted on the same data dir and port."""

    def __init__(self, name: str, settings: Settings, plan: Plan, work: Path) -> None:
        self.name = name
        self.port = free_port()
        self.data = work / name
        self.data.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data / "worker.log"
        self.env = dict(os.environ)
        self.env.update({
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "SELLERPERF_APP_ID": settings.app_id,
            "SELLERPERF_PARTITIONS": str(settings.partitions),
            "SELLERPERF_STORE": "rocksdb://",
            "SELLERPERF_STANDBY_REPLICAS": str(plan.standby_replicas),
            "SELLERPERF_DATA_DIR": str(self.data),
            "SELLERPERF_WEB_PORT": str(self.port),
            "SELLERPERF_ALLOWED_LATENESS_MS": str(plan.lateness_ms),
            "SELLERPERF_IDLE_FLUSH_S": str(plan.idle_flush_s),
            "SELLERPERF_LOG_LEVEL": "info",
            **{f"SELLERPERF_{f.upper()}": getattr(settings, f) for f in TOPIC_FIELDS},
        })
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            out.write(f"\n==== chaos: start #{self.starts + 1} ====\n".encode())
            out.flush()
            self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"],
                                         cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send a signal and wait for the process to end (SIGKILL after 60 s)."""
        if self.proc is None or not self.alive():
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def get(self, path: str, timeout: float = 5) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                    timeout=timeout) as r:
            return bytes(r.read())

    def wait_web(self, timeout_s: float = 90) -> bool:
        """Until its web server answers; False if it exited or did not answer in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.alive():
            try:
                self.get("/health", timeout=2)
                return True
            except OSError:
                time.sleep(0.3)
        return False

    def metric_sum(self, name: str) -> float | None:
        """The sum of a metric's samples on /metrics (None if unreachable)."""
        try:
            text = self.get("/metrics", timeout=20).decode()
        except OSError:
            return None
        return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
                   if line.startswith(name) and line[len(name)] in " {")

    def tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@dataclass(slots=True)
class Where:
    """Where the broker put a produced malformed record."""

    kind: str
    topic: str
    partition: int
    offset: int
    value: bytes


class Producer:
    """Produces one step's records at a rate in a thread; notes where malformed ones went."""

    def __init__(self, settings: Settings, records: list[Produced], rate_per_s: float,
                 placed: list[Where]) -> None:
        self.settings, self.records, self.rate = settings, records, rate_per_s
        self.placed = placed
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise RuntimeError(f"producing failed: {self.error!r}") from self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._produce())
        except BaseException as exc:  # reported by join
            self.error = exc

    async def _produce(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.bootstrap_servers,
                                    acks="all", enable_idempotence=True, linger_ms=5,
                                    max_request_size=1_048_000)
        await producer.start()
        try:
            started = time.perf_counter()
            marked: list[tuple[Produced, asyncio.Future[Any]]] = []
            pending = []
            for i, r in enumerate(self.records, 1):
                future = await producer.send(r.topic, value=r.value, key=r.key)
                pending.append(future)
                if r.kind not in ("", "duplicate"):
                    marked.append((r, future))
                if len(pending) >= 2000:
                    await asyncio.gather(*pending)
                    pending.clear()
                ahead = i / self.rate - (time.perf_counter() - started)
                if ahead > 0.005:
                    await asyncio.sleep(ahead)
            await asyncio.gather(*pending)
            for r, future in marked:
                meta = future.result()
                self.placed.append(Where(r.kind, meta.topic, meta.partition, meta.offset,
                                         r.value))
        finally:
            await producer.stop()


# ------------------------------------------------------------------ reading the broker


async def _group_progress(settings: Settings) -> tuple[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    await admin.start()
    try:
        tps = [TopicPartition(t, p) for t in settings.input_topics
               for p in range(settings.partitions)]
        ends = await consumer.end_offsets(tps)
        try:
            offsets = await admin.list_consumer_group_offsets(settings.app_id)
        except Exception:  # no coordinator yet (fresh broker, broker restarting)
            offsets = {}
        done = sum(min(ends[tp], max(0, offsets[tp].offset)) for tp in ends if tp in offsets)
        return done, sum(ends.values())
    finally:
        await consumer.stop()
        await admin.close()


def group_progress(settings: Settings) -> tuple[int, int]:
    """(committed, end) over the input topics for the workers' group; (-1, -1) while the
    broker does not answer."""
    try:
        return asyncio.run(asyncio.wait_for(_group_progress(settings), 30))
    except Exception:
        return -1, -1


async def _read(settings: Settings, topic: str, timeout_s: float) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                                enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: dict[TopicPartition, list[Any]] = {tp: [] for tp in tps}
        deadline = time.monotonic() + timeout_s
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: read {sum(map(len, out.values()))} records in "
                                   f"{timeout_s:.0f} s, partitions {sorted(remaining)} "
                                   f"short of {ends}")
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                out[tp] += messages
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return [m for tp in tps for m in out[tp]]
    finally:
        await consumer.stop()


def read_topic(settings: Settings, topic: str, timeout_s: float = 120) -> list[Any]:
    """Every record of a topic (aiokafka ConsumerRecords), partition by partition; raises
    rather than return part of it."""
    return asyncio.run(_read(settings, topic, timeout_s))


# ------------------------------------------------------------------------ the run


@dataclass(slots=True)
class Report:
    """What a run did and found."""

    plan: dict[str, Any]
    faults: Counter[str] = field(default_factory=Counter)
    records: dict[str, int] = field(default_factory=dict)
    finished: bool = False
    progress: tuple[int, int] = (0, 0)
    alerts: dict[str, int] = field(default_factory=dict)
    alert_examples: list[str] = field(default_factory=list)
    sellers: dict[str, int] = field(default_factory=dict)
    seller_examples: list[str] = field(default_factory=list)
    dead_expected: Counter[str] = field(default_factory=Counter)
    dead_got: Counter[str] = field(default_factory=Counter)
    malformed: dict[str, int] = field(default_factory=dict)
    malformed_examples: list[str] = field(default_factory=list)
    unexpected_dead: list[str] = field(default_factory=list)
    corrected_sellers: int = 0
    """Sellers with a late event (the stalled topic's, or an alert marked a correction):
    their alerts are left out of the comparison, their rates are not."""
    settled_on_one: bool = False
    """Whether one worker held every partition, restored, before the comparison."""
    as_of_behind: int = 0
    """Sellers whose last snapshot's clock (its worker's) is not the replay's."""
    malformed_repeated: int = 0
    """Dead letters for one input record beyond the first (at-least-once: not a failure)."""
    crashes: list[str] = field(default_factory=list)
    skipped_offsets: float = 0.0
    error_lines: int = 0
    """ERROR lines in the workers' logs (a broker outage should not flood them)."""
    seconds: float = 0.0

    def failures(self) -> list[str]:
        """Each strict check that failed, one line each."""
        a, s, m = self.alerts, self.sellers, self.malformed
        out = []
        if not self.finished:
            out.append(f"the workers did not commit every input record: {self.progress}")
        if not self.settled_on_one:
            out.append("no single worker came to hold every partition at the end")
        # Duplicates (same id and content: "wrong" checks every copy) are at-least-once
        # delivery after a kill -9, de-duplicated by consumers on alert_id: reported only.
        for k in ("lost", "wrong", "unexpected"):
            if a.get(k):
                out.append(f"alerts {k}: {a[k]}")
        for k in ("differ", "missing"):
            if s.get(k):
                out.append(f"sellers whose final rates {k}: {s[k]}")
        for k in ("missing", "wrong_reason", "wrong_bytes"):
            if m.get(k):
                out.append(f"malformed records {k.replace('_', ' ')}: {m[k]}")
        if self.unexpected_dead:
            out.append(f"dead letters of valid records: {len(self.unexpected_dead)}")
        return out


def run(plan: Plan, bootstrap: str, work: Path, broker: Broker | None = None) -> Report:
    """Run the plan against the broker; the report (never raises on a finding)."""
    if plan.broker_restarts and broker is None:
        raise ValueError("broker restarts need a Broker to restart")
    started = time.monotonic()
    rng = random.Random(plan.seed)
    prefix = f"chaos{uuid.uuid4().hex[:6]}"
    base = Settings(bootstrap_servers=bootstrap, app_id=prefix, partitions=plan.partitions)
    settings = replace(base, **{f: f"{prefix}-{getattr(base, f)}" for f in TOPIC_FIELDS})
    asyncio.run(create_topics(settings))
    sim = SimulationConfig(seed=plan.seed, sellers=plan.sellers, days=plan.days,
                           orders_per_seller_day=plan.orders_per_seller_day,
                           degrading_fraction=0.25)
    records = build(settings, sim, plan.seed, plan.steps, plan.duplicate_ratio,
                    plan.malformed_each, plan.oversized_bytes, plan.stall_hours)
    report = Report(asdict(plan))
    report.records = {**records.counts, "stalled (held back)": records.stalled_records}
    schedule = _schedule(plan, records, rng)
    log(f"topics {prefix}-*, {sum(map(len, records.steps))} records in "
        f"{len(records.steps)} steps; work dir {work}")
    workers = [Worker(f"w{i}", settings, plan, work) for i in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        if not w.wait_web():
            report.crashes.append(f"{w.name} did not start: {w.tail(500)}")
    placed: list[Where] = []
    try:
        for i, step in enumerate(records.steps):
            _step(i, step, schedule.get(i, []), settings, plan, workers, placed, rng, report,
                  broker, records)
        for w in workers:
            if not w.alive():
                _note_crash(w, report)
                w.start()
                w.wait_web()
        report.finished, report.progress = _wait_done(settings, plan.finish_timeout_s,
                                                      workers, report)
        # One clock at the end. With the data not live, a worker's clock is the newest event
        # time of the partitions it holds (no worker sees the others'), so two workers end
        # on two clocks, and rates whose windows or deadlines lie between them differ from
        # the replay's one clock (docs/semantics.md). The group settles on one worker, which
        # restores every partition and moves them all to the whole log's newest time.
        for w in workers[1:]:
            w.signal(signal.SIGTERM)
        report.settled_on_one = _wait_all_ready(workers[0], plan.partitions, 120.0)
        _wait_quiet(settings, plan.idle_flush_s * 2 + 3)
        report.error_lines = sum(w.log_path.read_text(errors="replace").count("] [ERROR] ")
                                 for w in workers)
        report.skipped_offsets = sum(w.metric_sum("sellerperf_input_offsets_skipped_total")
                                     or 0.0 for w in workers)
        _compare(settings, plan, records, placed, report)
    finally:
        for w in workers:
            w.signal(signal.SIGTERM)
    report.seconds = time.monotonic() - started
    return report


def _schedule(plan: Plan, records: Log, rng: random.Random) -> dict[int, list[str]]:
    """Per step, the faults during it ("kill9", "sigterm") or after it ("broker")."""
    steps = [i for i in range(len(records.steps)) if i != records.stall_step]
    out: dict[int, list[str]] = {}
    for fault, n in (("kill9", plan.kills), ("sigterm", plan.sigterms),
                     ("broker", plan.broker_restarts)):
        for _ in range(n):
            out.setdefault(rng.choice(steps[:-1] if fault == "broker" else steps),
                           []).append(fault)
    return out


def _step(i: int, step: list[Produced], faults: list[str], settings: Settings, plan: Plan,
          workers: list[Worker], placed: list[Where], rng: random.Random, report: Report,
          broker: Broker | None, records: Log) -> None:
    if i == records.stall_step:
        # Every other topic is past the held-back records; the workers read it all and
        # stay idle for longer than their idle flush before these come.
        _wait_idle(settings, plan.idle_flush_s)
        log(f"step {i}: {records.stalled_topic} sends {len(step)} records held back "
            f"{plan.stall_hours} h of event time")
        report.faults["stalled topic"] += 1
    during = sorted(f for f in faults if f != "broker")
    duration = len(step) / plan.rate_per_s
    log(f"step {i}: {len(step)} records over {duration:.1f} s; faults {faults or '-'}")
    producer = Producer(settings, step, plan.rate_per_s, placed)
    producer.start()
    at = sorted(rng.uniform(0.15, 0.85) * duration for _ in during)
    t0 = time.monotonic()
    for fault, when in zip(during, at, strict=True):
        time.sleep(max(0.0, t0 + when - time.monotonic()))
        live = [w for w in workers if w.alive()]
        if not live:
            continue
        victim = rng.choice(live)
        sig = signal.SIGKILL if fault == "kill9" else signal.SIGTERM
        log(f"  {'kill -9' if fault == 'kill9' else 'SIGTERM'} {victim.name}")
        victim.signal(sig)
        report.faults["kill -9" if fault == "kill9" else "SIGTERM hand-over"] += 1
        time.sleep(rng.uniform(0.5, 3.0))
        victim.start()
        if not victim.wait_web():
            _note_crash(victim, report)
    producer.join()
    for w in workers:
        if not w.alive():
            _note_crash(w, report)
            w.start()
            w.wait_web()
    if "broker" in faults and broker is not None:
        time.sleep(rng.uniform(0.0, 2.0))
        log("  broker restart")
        broker.stop()
        time.sleep(rng.uniform(3.0, 8.0))
        broker.start()
        report.faults["broker restart"] += 1


def _note_crash(w: Worker, report: Report) -> None:
    code = w.proc.returncode if w.proc is not None else None
    tail = w.tail(20_000).strip().splitlines()
    errors = [line.strip() for line in tail if "Error" in line or "Exception" in line]
    report.crashes.append(f"{w.name} exited ({code}) unasked: "
                          + " | ".join([*errors[-3:], *tail[-1:]])[:600])
    log(f"  {w.name} exited unasked ({code})")
    report.faults["unasked worker exits"] += 1


def _wait_idle(settings: Settings, idle_flush_s: float) -> None:
    """Until the group's commits stop moving for longer than the idle flush, then that."""
    last, since = None, time.monotonic()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        now = group_progress(settings)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > 2 * idle_flush_s + 2:
            break
        time.sleep(1.0)
    time.sleep(idle_flush_s + 2)


def _wait_done(settings: Settings, timeout_s: float, workers: list[Worker],
               report: Report) -> tuple[bool, tuple[int, int]]:
    deadline = time.monotonic() + timeout_s
    now = (0, 0)
    while time.monotonic() < deadline:
        now = group_progress(settings)
        if now[1] > 0 and now[0] >= now[1]:
            return True, now
        for w in workers:
            if not w.alive():
                _note_crash(w, report)
                w.start()
        time.sleep(1.0)
    return False, now


def _wait_all_ready(worker: Worker, partitions: int, timeout_s: float) -> bool:
    """Until the worker holds every partition, restored (/health/ready); whether it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and worker.alive():
        try:
            state = orjson.loads(worker.get("/health/ready", timeout=2))
        except OSError:  # 503 while restoring, or not answering yet
            state = {}
        if state.get("status") == "ready" and len(state.get("partitions", {})) == partitions:
            return True
        time.sleep(0.5)
    return False


def _wait_quiet(settings: Settings, quiet_s: float) -> None:
    """Until the metrics topic took nothing new for `quiet_s` (the last snapshots wait for
    the idle flush)."""
    async def ends() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
        await consumer.start()
        try:
            tps = [TopicPartition(settings.topic_metrics, p) for p in range(settings.partitions)]
            return sum((await consumer.end_offsets(tps)).values())
        finally:
            await consumer.stop()

    last, since = -1, time.monotonic()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = asyncio.run(ends())
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(1.0)


def _compare(settings: Settings, plan: Plan, records: Log, placed: list[Where],
             report: Report) -> None:
    result = replay_lines(enumerate(records.replayed(), 1),
                          load_profile(settings.target_profile), plan.lateness_ms,
                          plan.partitions, flush=True)
    got = [orjson.loads(m.value) for m in read_topic(settings, settings.topic_alerts)]
    # Alerts are the replay's for every seller whose events all came within the lateness
    # (docs/semantics.md, "What the replay equals the worker means"). The stalled topic's
    # records come after the idle flush: late, applied as corrections, so the alerts of
    # their sellers may differ (the final rates may not).
    corrected = {a["seller_id"] for a in got if a.get("correction")}
    corrected |= {orjson.loads(r.value)["seller_id"] for r in records.steps[records.stall_step]
                  if r.kind in ("", "duplicate")}
    report.corrected_sellers = len(corrected)
    expected = {a.alert_id: msgspec.to_builtins(a) for a in result.alerts
                if a.seller_id not in corrected}
    got = [a for a in got if a["seller_id"] not in corrected]
    copies = Counter(a["alert_id"] for a in got)
    wrong = {a["alert_id"] for a in got
             if a["alert_id"] in expected and a != expected[a["alert_id"]]}
    lost = sorted(set(expected) - set(copies))
    report.alerts = {
        "expected": len(expected), "delivered": len(copies), "lost": len(lost),
        "duplicated": sum(n - 1 for n in copies.values()), "wrong": len(wrong),
        "unexpected": len(set(copies) - set(expected)),
    }
    for aid in lost[:3]:
        a = expected[aid]
        report.alert_examples.append(f"lost {a['seller_id']} {a['metric']} "
                                     f"{a['previous_status']}->{a['status']} @ {a['as_of']}")
    for aid in sorted(set(copies) - set(expected))[:3]:
        a = next(x for x in got if x["alert_id"] == aid)
        report.alert_examples.append(
            f"unexpected {a['seller_id']} {a['metric']} {a['previous_status']}->{a['status']} "
            f"@ {a['as_of']}{' (correction)' if a.get('correction') else ''}")
    for aid in sorted(wrong)[:3]:
        a = next(x for x in got if x["alert_id"] == aid and x != expected[aid])
        diff = sorted(k for k in a if a[k] != expected[aid].get(k))
        report.alert_examples.append(f"wrong {aid}: fields {diff}")

    snaps = {s.seller_id: msgspec.to_builtins(s) for s in result.snapshots()}
    last: dict[str, Any] = {}
    for m in read_topic(settings, settings.topic_metrics):
        if m.value is not None:
            last[m.key.decode()] = orjson.loads(m.value)
    # Each worker's clock is its own partitions' newest event time when the data is not
    # live, and a seller's last snapshot is from its last change, so a snapshot's as_of (and
    # window dates) may be behind the replay's: compare rates, statuses and health.
    def judged(snap: Any) -> Any:  # a snapshot, its clock fields (and windows) left out
        if isinstance(snap, dict):
            return {k: judged(v) for k, v in snap.items()
                    if k not in ("as_of", "window_start", "window_end")}
        return [judged(v) for v in snap] if isinstance(snap, list) else snap

    differ = sorted(s for s in snaps if s in last and judged(last[s]) != judged(snaps[s]))
    # A seller with nothing counted and nothing judged never changed: the worker has no
    # snapshot of it to publish (the replay lists every seller it saw).
    no_snapshot = {s for s in set(snaps) - set(last)
                   if any(r["denominator"] or r["status"] != "insufficient_data"
                          for r in snaps[s]["rates"])}
    report.as_of_behind = sum(1 for s in snaps if s in last and last[s]["as_of"]
                              != snaps[s]["as_of"])
    report.sellers = {"expected": len(snaps), "differ": len(differ),
                      "missing": len(no_snapshot),
                      "unexpected": len(set(last) - set(snaps))}
    for seller in sorted(no_snapshot)[:3]:
        rates = {r["metric"]: (r["numerator"], r["denominator"]) for r in snaps[seller]["rates"]
                 if r["denominator"]}
        report.seller_examples.append(f"missing {seller}: replay's rates with a denominator "
                                      f"{rates}, health {snaps[seller]['account_health']}")
    for seller in differ[:4]:
        a = {r["metric"]: (r["numerator"], r["denominator"]) for r in last[seller]["rates"]}
        b = {r["metric"]: (r["numerator"], r["denominator"]) for r in snaps[seller]["rates"]}
        rates = [f"{m} {a.get(m)} vs {b.get(m)}" for m in sorted(b) if a.get(m) != b.get(m)]
        report.seller_examples.append(
            f"{seller}: " + ("; ".join(rates[:3]) if rates else
                             "rates equal, other fields differ: " + ", ".join(
                                 k for k in snaps[seller] if last[seller].get(k)
                                 != snaps[seller][k])))

    # The replay dead-letters what it cannot read; a file has no keys to be wrong.
    report.dead_expected = Counter(d.reason for d in result.dead_letters)
    report.dead_expected.update(MALFORMED[w.kind] for w in placed if w.kind in KEY_KINDS)
    letters = [orjson.loads(m.value) for m in read_topic(settings, settings.topic_dead_letters)]
    report.dead_got = Counter(d.get("reason") for d in letters)
    at: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = {}
    for d in letters:
        at.setdefault((d.get("source"), d.get("partition"), d.get("offset")), []).append(d)
    report.malformed_repeated = sum(len(ds) - 1 for ds in at.values())
    missing, wrong_reason, wrong_bytes = [], [], []
    for w in placed:
        found = at.pop((w.topic, w.partition, w.offset), [])
        if not found:
            missing.append(w)
        elif any(d.get("reason") != MALFORMED[w.kind] for d in found):
            wrong_reason.append(w)
        elif not all(_keeps(d, w.value) for d in found):
            wrong_bytes.append(w)
    report.malformed = {"produced": len(placed), "dead-lettered": len(placed) - len(missing),
                        "missing": len(missing), "wrong_reason": len(wrong_reason),
                        "wrong_bytes": len(wrong_bytes)}
    for w in missing[:5]:
        report.malformed_examples.append(f"missing {w.kind} ({len(w.value)} bytes) "
                                         f"{w.topic}[{w.partition}]@{w.offset}")
    for w in wrong_reason[:3] + wrong_bytes[:3]:
        report.malformed_examples.append(f"wrong {w.kind} {w.topic}[{w.partition}]@{w.offset}")
    report.unexpected_dead = [f"{d.get('reason')} {d.get('source')}[{d.get('partition')}]"
                              f"@{d.get('offset')}" for ds in at.values() for d in ds]


def _keeps(letter: dict[str, Any], value: bytes) -> bool:
    """Whether a dead letter holds the original bytes, or (cut short) their SHA-256."""
    import base64

    try:
        if base64.b64decode(letter.get("value_base64") or "") == value:
            return True
    except ValueError:
        pass
    digest = hashlib.sha256(value).hexdigest()
    return digest in {str(v).lower() for v in letter.values()}


def table(report: Report) -> str:
    """The run as a table."""
    rows: list[tuple[str, str]] = [("faults", "")]
    rows += [(f"  {k}", str(v)) for k, v in sorted(report.faults.items())]
    rows += [("records produced", "")]
    rows += [(f"  {k}", str(v)) for k, v in report.records.items()]
    rows += [("workers finished", f"{report.finished} (committed {report.progress[0]} of "
                                  f"{report.progress[1]})"),
             ("one worker holds every partition at the end", str(report.settled_on_one)),
             ("input offsets skipped (metric)", f"{report.skipped_offsets:.0f}"),
             ("alerts", "")]
    rows += [(f"  {k}", str(v)) for k, v in report.alerts.items()]
    rows += [("  sellers with corrections (alerts not compared)", str(report.corrected_sellers))]
    rows += [(f"    {e}", "") for e in report.alert_examples]
    rows += [("sellers (last seller-metrics record vs replay)", "")]
    rows += [(f"  {k}", str(v)) for k, v in report.sellers.items()]
    rows += [("  as_of behind the replay's (a worker's own clock)", str(report.as_of_behind))]
    rows += [(f"    {e}", "") for e in report.seller_examples]
    rows += [("malformed records in the dead-letter topic", "")]
    rows += [(f"  {k.replace('_', ' ')}", str(v)) for k, v in report.malformed.items()]
    rows += [(f"    {e}", "") for e in report.malformed_examples]
    rows += [("dead letters by reason (expected / got)", "")]
    for reason in sorted(set(report.dead_expected) | set(report.dead_got), key=str):
        rows.append((f"  {reason}",
                     f"{report.dead_expected.get(reason, 0)} / {report.dead_got.get(reason, 0)}"))
    rows += [("  dead letters published twice", str(report.malformed_repeated))]
    rows += [("  dead letters of valid records", str(len(report.unexpected_dead)))]
    rows += [(f"    {e}", "") for e in report.unexpected_dead[:3]]
    rows += [("worker log ERROR lines", str(report.error_lines))]
    rows += [("unasked worker exits", str(len(report.crashes)))]
    rows += [(f"    {c}", "") for c in report.crashes[:3]]
    failures = report.failures()
    rows += [("verdict", "PASS" if not failures else f"FAIL ({len(failures)} checks)"),
             ("seconds", f"{report.seconds:.0f}")]
    width = max(len(k) for k, v in rows if v)
    return "\n".join(f"{k.ljust(width)}  {v}".rstrip() for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the CI version")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--tmp-dir", type=Path, help="workers' data and logs (kept)")
    args = parser.parse_args(argv)
    plan = SHORT if args.short else LONG
    if args.seed is not None:
        plan = replace(plan, seed=args.seed)
    broker = Broker()
    port = broker.env.get("KAFKA_PORT", "9092")
    was_up = reachable(f"127.0.0.1:{port}")
    bootstrap = broker.start()
    log(f"broker {bootstrap} ({'already running' if was_up else 'started'})")
    work = args.tmp_dir or Path(tempfile.mkdtemp(prefix="sellerperf-chaos-"))
    try:
        report = run(plan, bootstrap, work, broker)
    finally:
        if not was_up:
            broker.stop()
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=1, default=str))
    for line in report.failures():
        print(f"FAIL: {line}")
    print(f"worker logs: {work}")
    return 1 if report.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
