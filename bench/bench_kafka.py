"""Kafka benchmark: the limits, the engine, the worker end to end, latency, state, Quix Streams.

    python bench/bench_kafka.py                  # full: 1,000,000-event backlog over 10,000 sellers
    python bench/bench_kafka.py --quick          # small sizes, under a minute (the smoke test)
    python bench/bench_kafka.py --help           # sizes, stores, what to skip

Needs a Kafka broker (KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092; deploy/kafka/start.sh
is run if nothing answers there). Every run uses topics and consumer groups of its own
(prefix `bench<hex>`) and deletes its topics at the end (--keep-topics keeps them).

Measured in one run, on the same backlog:

1. limits: the broker's own consume rate (Kafka's ConsumerPerformance tool over the four
   input topics) and a raw aiokafka consumer that decodes every value with orjson and does
   nothing else;
2. the engine alone (bench/bench_engine.py in a subprocess);
3. `sellerperf worker` end to end, per store: events/s from process start and from the first
   committed progress to every input offset committed (the consumer group's offsets, polled
   with the admin client), as a ratio to the raw aiokafka consumer; RSS and on-disk state;
4. alert latency at a steady offered load with event times tracking the wall clock
   (bench/livegen.py), allowed lateness set low;
5. state at scale: a worker (RocksDB store) on a backlog of many sellers with few orders,
   and the engine alone in-process on the same events (bench/state_scale.py);
6. a Quix Streams application computing the 30-day late shipment rate per seller
   (bench/quix_late_shipment.py, run with --quix-python from its own virtualenv).

Optionally (--profile) a py-spy profile of the worker on the backlog, in a run of its own.
Prints a table and writes JSON (bench/results/kafka.json by default).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from livegen import LiveLoad, percentile  # noqa: E402

from streams.core.clock import DAY_MS  # noqa: E402
from streams.core.partitioner import partition_for  # noqa: E402
from streams.kafka.client import create_topics, produce, reachable, topic_for  # noqa: E402
from streams.kafka.settings import Settings  # noqa: E402
from streams.offline.simulate import DEFAULT_START_MS, SimulationConfig, write_ndjson  # noqa: E402

EVENTS_PER_ORDER = 4.1  # what the simulator makes per order over 30 days, tail cut included
OUTPUT_FIELDS = ("topic_alerts", "topic_metrics", "topic_dead_letters")
INPUT_FIELDS = ("topic_orders", "topic_shipments", "topic_messages", "topic_refunds")
DEFAULT_QUIX_PYTHON = "/tmp/quixvenv/bin/python"


def log(msg: str) -> None:
    """Progress on stderr (stdout is the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def git_state() -> dict[str, Any]:
    """The commit and the uncommitted files under streams/ (the code the workers run)."""
    def git(*a: str) -> str:
        done = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""
    return {"head": git("rev-parse", "--short", "HEAD").strip(),
            "streams_uncommitted": [ln[3:] for ln in git("status", "--porcelain", "--",
                                                           "streams").splitlines() if ln]}


def load() -> list[float]:
    """1, 5 and 15 minute load averages (what `uptime` shows)."""
    return [round(x, 2) for x in os.getloadavg()]


# -- broker and topics ---------------------------------------------------------------------


def ensure_broker(servers: str) -> None:
    """Start the local broker when the default address does not answer."""
    if reachable(servers):
        return
    if servers != "127.0.0.1:9092":
        raise SystemExit(f"no Kafka broker at {servers}")
    log("no broker at 127.0.0.1:9092: running deploy/kafka/start.sh")
    subprocess.run([str(ROOT / "deploy/kafka/start.sh")], check=True, stdout=subprocess.DEVNULL)


def topic_set(bootstrap: str, inputs: str, app_id: str, **extra: Any) -> Settings:
    """Settings with input topics `<inputs>-orders`... and outputs `<app_id>-seller-alerts`..."""
    base = Settings(bootstrap_servers=bootstrap, partitions=4, standby_replicas=0)
    names: dict[str, Any] = {f: f"{inputs}-{getattr(base, f)}" for f in INPUT_FIELDS}
    names.update({f: f"{app_id}-{getattr(base, f)}" for f in OUTPUT_FIELDS})
    return replace(base, app_id=app_id, **names, **extra)


async def _end_offsets(bootstrap: str, topics: list[str], partitions: int) -> dict[
        TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


def end_offsets(s: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    """End offset of every partition of the topics."""
    return asyncio.run(_end_offsets(s.bootstrap_servers, topics, s.partitions))


async def create_changelog(s: Settings, max_message_bytes: int) -> None:
    """The worker table's changelog topic as Faust would make it, allowing bigger records."""
    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(
            f"{s.app_id}-state-changelog", s.partitions, s.replication_factor,
            topic_configs={"cleanup.policy": "compact",
                           "max.message.bytes": str(max_message_bytes)})])
    finally:
        await admin.close()


async def _delete_topics(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if prefix in t]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


async def _topic_records(bootstrap: str, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        parts = [int(x["partition"]) for d in described for x in d.get("partitions", [])]
    finally:
        await admin.close()
    if not parts:
        return None
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


def topic_records(bootstrap: str, topic: str) -> int | None:
    """Records in a topic (end offsets summed), None when it cannot be read."""
    try:
        return asyncio.run(_topic_records(bootstrap, topic))
    except Exception:
        return None


MOST: Final = 0.999
"""Share of a backlog committed by which a worker's rate is also taken (without the tail:
the last events wait for the worker's idle flush)."""


class GroupWatcher:
    """Polls a consumer group's committed offsets on the input topics until all are in."""

    def __init__(self, bootstrap: str, group: str, ends: dict[TopicPartition, int]) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.ends = ends
        self.total = sum(ends.values())

    async def committed(self, admin: AIOKafkaAdminClient) -> int:
        offsets = await admin.list_consumer_group_offsets(self.group)
        return sum(max(0, offsets[tp].offset) for tp in self.ends if tp in offsets)

    async def watch(self, started: float, timeout_s: float, alive: Callable[[], bool],
                    on_poll: Callable[[int], None] | None = None,
                    stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        """From `started` (perf_counter): first commit and all-committed times, in seconds.

        Ends when all is committed, the process is gone, `stop()` says so or time is up; a
        run that did not complete reports its rate so far (`events_per_s_partial`).
        """
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        first_t = first_n = done_t = most_t = most_n = None
        last_n, last_t = 0, started
        progress: list[tuple[float, int]] = []
        try:
            deadline = time.perf_counter() + timeout_s
            while time.perf_counter() < deadline and alive() and not (stop and stop()):
                try:
                    n = await self.committed(admin)
                except Exception:  # group not there yet
                    n = 0
                now = time.perf_counter()
                if n != last_n:
                    last_n, last_t = n, now
                if on_poll:
                    on_poll(n)
                if not progress or now - started >= progress[-1][0] + 10:
                    progress.append((round(now - started, 1), n))
                if n > 0 and first_t is None:
                    first_t, first_n = now, n
                if most_t is None and n >= MOST * self.total:
                    most_t, most_n = now, n
                if n >= self.total:
                    done_t = now
                    break
                await asyncio.sleep(0.25)
        finally:
            await admin.close()
        out: dict[str, Any] = {"events": self.total, "committed": last_n,
                               "completed": done_t is not None, "progress": progress}
        if first_t is not None and first_n is not None:
            out["startup_to_first_commit_s"] = first_t - started
        if done_t is not None and first_t is not None and first_n is not None:
            total_s = done_t - started
            steady_s = done_t - first_t
            out.update({
                "seconds_from_start": total_s,
                "seconds_from_first_commit": steady_s,
                "events_after_first_commit": self.total - first_n,
                "events_per_s_from_start": self.total / total_s,
                "events_per_s": (self.total - first_n) / steady_s if steady_s > 0 else None,
            })
            if most_t is not None and most_n is not None and most_t > first_t:
                # The last events wait for the worker's idle flush (SELLERPERF_IDLE_FLUSH_S):
                # the lateness holds them back and no newer event comes to release them.
                out.update({"seconds_to_most": most_t - first_t, "tail_s": done_t - most_t,
                            "events_per_s_to_most": (most_n - first_n) / (most_t - first_t)})
        elif first_t is not None and first_n is not None and last_t > first_t:
            out["events_per_s_partial"] = (last_n - first_n) / (last_t - first_t)
        return out


# -- the backlog -------------------------------------------------------------------------


def _event_time(line: bytes) -> bytes:
    """The event time of an event line, as text (RFC 3339 UTC: sorts as it reads)."""
    return orjson.loads(line)["event_time"].encode() if line.strip() else b""


@dataclass(frozen=True)
class Backlog:
    """A cached simulated event file."""

    path: Path
    sellers: int
    days: int
    orders_per_seller_day: float

    @staticmethod
    def make(data_dir: Path, sellers: int, days: int, orders_per_seller_day: float,
             seed: int = 5) -> Backlog:
        path = data_dir / f"backlog-{sellers}s-{days}d-{orders_per_seller_day:g}o.ndjson"
        if not path.exists():
            log(f"simulating {sellers:,} sellers x {days} days -> {path.name}")
            write_ndjson(SimulationConfig(seed=seed, sellers=sellers, days=days,
                                          orders_per_seller_day=orders_per_seller_day), path)
        return Backlog(path, sellers, days, orders_per_seller_day)

    def with_heavy(self, data_dir: Path, sellers: int, days: int,
                   orders_per_seller_day: float) -> Backlog:
        """This backlog and, merged in by event time, `sellers` more sellers ("H" ids) with
        `days` days of orders ending with this backlog's last day."""
        path = data_dir / (f"{self.path.stem}-plus-{sellers}h{days}d"
                           f"{orders_per_seller_day:g}o.ndjson")
        if not path.exists():
            log(f"simulating {sellers:,} more sellers x {days} days -> {path.name}")
            heavy = data_dir / f"heavy-{sellers}h{days}d{orders_per_seller_day:g}o.ndjson"
            write_ndjson(SimulationConfig(
                seed=11, sellers=sellers, days=days, seller_prefix="H",
                orders_per_seller_day=orders_per_seller_day,
                start_ms=DEFAULT_START_MS - (days - self.days) * DAY_MS), heavy)
            with self.path.open("rb") as a, heavy.open("rb") as b, path.open("wb") as out:
                out.writelines(heapq.merge(a, b, key=_event_time))
            heavy.unlink()
        return Backlog(path, self.sellers + sellers, self.days, self.orders_per_seller_day)

    def records(self, s: Settings) -> Iterator[tuple[str, bytes, bytes]]:
        """(topic, key, value) of each event, keyed by seller id."""
        with self.path.open("rb") as f:
            for line in f:
                line = line.rstrip(b"\n")
                if line:
                    e = orjson.loads(line)
                    yield topic_for(e["type"], s), e["seller_id"].encode(), line

    def load(self, s: Settings) -> dict[str, Any]:
        """Create the topics and produce the file to them; counts and rate."""
        asyncio.run(create_topics(s))
        per_topic: Counter[str] = Counter()
        size = 0

        def counted() -> Iterator[tuple[str, bytes, bytes]]:
            nonlocal size
            for rec in self.records(s):
                per_topic[rec[0]] += 1
                size += len(rec[2])
                yield rec

        started = time.perf_counter()
        sent = asyncio.run(produce(s, counted()))
        seconds = time.perf_counter() - started
        return {"events": sent, "bytes": size, "per_topic": dict(per_topic),
                "produce_seconds": seconds, "produce_events_per_s": sent / seconds}


# -- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes, 0 when gone."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, hwm


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def du_bytes(path: Path) -> int:
    """Bytes on disk under a directory (as du counts them)."""
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_blocks * 512
        except OSError:
            pass
    return total


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it does not end."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Worker:
    """A `sellerperf worker` subprocess configured through SELLERPERF_* variables."""

    def __init__(self, s: Settings, data_dir: Path, *, store: str, lateness_ms: int,
                 batch_size: int | None = None,
                 max_message_bytes: int = 0, evict: str | None = None,
                 name: str | None = None) -> None:
        self.settings = s
        self.data_dir = data_dir
        self.port = free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers,
            "SELLERPERF_APP_ID": s.app_id,
            "SELLERPERF_PARTITIONS": str(s.partitions),
            "SELLERPERF_STORE": store,
            "SELLERPERF_STANDBY_REPLICAS": "0",
            "SELLERPERF_DATA_DIR": str(data_dir),
            "SELLERPERF_WEB_PORT": str(self.port),
            "SELLERPERF_ALLOWED_LATENESS_MS": str(lateness_ms),
            "SELLERPERF_LOG_LEVEL": "info",
        })
        if batch_size is not None:
            env["SELLERPERF_BATCH_SIZE"] = str(batch_size)
        if evict is not None:
            env["SELLERPERF_EVICT"] = evict
        for f in INPUT_FIELDS + OUTPUT_FIELDS:
            env[f"SELLERPERF_{f.upper()}"] = getattr(s, f)
        if max_message_bytes:
            # Not a SELLERPERF_ setting: Faust reads it from the environment. The table's
            # changelog topic is made beforehand with a matching max.message.bytes.
            env["PRODUCER_MAX_REQUEST_SIZE"] = str(max_message_bytes)
            asyncio.run(create_changelog(s, max_message_bytes))
        self.env = env
        logs = data_dir.parent.parent / "logs"  # <tmp-dir>/logs survives the run
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"{name or s.app_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT, env=self.env,
                stdout=out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, path: str, timeout: float = 10) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                    timeout=timeout) as r:
            return bytes(r.read())

    def wait_web(self, timeout_s: float = 60) -> int:
        """Until the web server answers (imports done, about to consume); its RSS then."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.alive():
            try:
                self.get("/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        return proc_rss(self.pid)[0]

    def wait_assigned(self, timeout_s: float = 90) -> float:
        """Until /health shows all input partitions assigned; seconds since start."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited:\n{self.tail()}")
            try:
                health = orjson.loads(self.get("/health", timeout=2))
                if len(health.get("partitions", [])) == self.settings.partitions:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"worker not assigned within {timeout_s} s:\n{self.tail()}")

    def metrics(self) -> dict[str, float]:
        """Selected Prometheus gauges and counters from /metrics."""
        try:
            text = self.get("/metrics", timeout=60).decode()
        except OSError:
            return {}
        out: dict[str, float] = {}
        sellers = 0.0
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            try:
                v = float(value)
            except ValueError:
                continue
            if name.startswith("sellerperf_sellers{") and 'metric="cancel_rate_7d"' in name:
                sellers += v
            elif name == "sellerperf_open_objects":
                out["open_objects"] = v
            elif name == "sellerperf_open_objects_in_memory":
                out["open_objects_in_memory"] = v
            elif name.startswith("sellerperf_events_consumed_total{"):
                out["events_consumed"] = out.get("events_consumed", 0) + v
            elif name.startswith("sellerperf_invalid_events_total{"):
                out["invalid"] = out.get("invalid", 0) + v
            elif name == "sellerperf_too_late_events_total":
                out["too_late"] = v
            elif name.startswith("sellerperf_alerts_emitted_total{"):
                out["alerts"] = out.get("alerts", 0) + v
            elif name == "sellerperf_batch_size_events_sum":
                out["batch_records_sum"] = v
            elif name == "sellerperf_batch_size_events_count":
                out["batches"] = v
            elif name == "sellerperf_batch_processing_seconds_sum":
                out["batch_seconds_sum"] = v
            elif name.startswith("sellerperf_batch_stage_seconds_total{"):
                out[name.split('"')[1] + "_seconds"] = v
        out["sellers"] = sellers
        return out

    def stop(self) -> None:
        """Measurements are taken: a short grace, then SIGKILL (its group is deleted after)."""
        if self.proc is not None:
            stop_process(self.proc, timeout=5)

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


# -- 1. limits -------------------------------------------------------------------------------


def consumer_perf(s: Settings, events: int) -> dict[str, Any]:
    """Kafka's ConsumerPerformance over the four input topics."""
    pattern = "^(" + "|".join(re.escape(t) for t in s.input_topics) + ")$"
    cmd = [str(ROOT / "deploy/kafka/kafka-run-class.sh"),
           "org.apache.kafka.tools.ConsumerPerformance",
           "--bootstrap-server", s.bootstrap_servers, "--include", pattern,
           "--num-records", str(events), "--timeout", "30000",
           "--group", f"{s.app_id}-perf-{uuid.uuid4().hex[:6]}"]
    load_before = load()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in done.stdout.splitlines() if ln.strip()]
    if done.returncode != 0 or len(lines) < 2:
        return {"error": (done.stderr or done.stdout)[-800:], "command": " ".join(cmd)}
    header = [h.strip() for h in lines[-2].split(",")]
    values = [v.strip() for v in lines[-1].split(",")]
    row = dict(zip(header, values, strict=False))

    def num(key: str) -> float:
        return float(row.get(key, "nan"))

    return {
        "events": int(num("data.consumed.in.nMsg")),
        "mb": num("data.consumed.in.MB"),
        "events_per_s": num("fetch.nMsg.sec"),
        "mb_per_s": num("fetch.MB.sec"),
        "events_per_s_incl_rebalance": num("nMsg.sec"),
        "rebalance_ms": num("rebalance.time.ms"),
        "fetch_ms": num("fetch.time.ms"),
        "load_before": load_before,
        "command": " ".join(cmd),
    }


async def _raw_consume(s: Settings, ends: dict[TopicPartition, int]) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    started = time.perf_counter()
    cpu0 = time.process_time()
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning()
        total = sum(ends.values())
        n = size = 0
        loads = orjson.loads
        # From here: aiokafka fetches in the background from the assignment on.
        first = time.perf_counter()
        while n < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for messages in batch.values():
                for m in messages:
                    loads(m.value)
                    size += len(m.value)
                n += len(messages)
            if not batch and time.perf_counter() - started > 300:
                break
        finished = time.perf_counter()
    finally:
        await consumer.stop()
    cpu = time.process_time() - cpu0
    return {"events": n, "bytes": size,
            "events_per_s": n / (finished - first) if finished > first else None,
            "events_per_s_from_start": n / (finished - started),
            "seconds": finished - first, "cpu_seconds": cpu,
            "events_per_cpu_s": n / cpu if cpu else None}


def raw_aiokafka(s: Settings, ends: dict[TopicPartition, int]) -> dict[str, Any]:
    """A raw aiokafka consumer: read the four topics, orjson.loads each value, nothing else."""
    load_before = load()
    out = asyncio.run(_raw_consume(s, ends))
    out["load_before"] = load_before
    return out


def faust_ceiling(s: Settings, events: int, mode: str, timeout_s: float) -> dict[str, Any]:
    """A Faust app doing nothing with the records (bench/faust_ceiling.py) in a process of
    its own: `stream` as Faust apps usually consume, `fetch` as the worker does, `ack` as
    `fetch` plus decoding and acknowledging each record."""
    load_before = load()
    cmd = [sys.executable, str(ROOT / "bench/faust_ceiling.py"), mode,
           ",".join(s.input_topics), str(s.partitions), str(events)]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"not done in {timeout_s:.0f} s", "load_before": load_before}
    # Faust's worker logs what is printed (on stderr, after a prefix).
    found = re.findall(r'\{"mode".*\}', proc.stdout + proc.stderr)
    if not found:
        return {"error": (proc.stderr or proc.stdout)[-500:], "load_before": load_before}
    out: dict[str, Any] = json.loads(found[-1])
    out["events_per_s"] = out["events"] / out["seconds"] if out["seconds"] else None
    out["load_before"] = load_before
    return out


# -- 2. engine -------------------------------------------------------------------------------


def engine_alone(events: int, data_dir: Path, *, jsonschema: bool) -> dict[str, Any]:
    """bench/bench_engine.py's measurement in a fresh process (its jsonschema comparison,
    1,300 events/s on 20,000 lines, only when asked)."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        "import bench_engine as b\n"
        + ("" if jsonschema else "b._jsonschema_rate = lambda sample: (0.0, 0)\n")
        + f"r = b.run({events}, __import__('pathlib').Path({str(data_dir)!r}))\n"
        "print(json.dumps(r))\n")
    load_before = load()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=1800)
    if done.returncode != 0:
        return {"error": done.stderr[-800:]}
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["load_before"] = load_before
    out["command"] = f"python bench/bench_engine.py --events {events}"
    return out


# -- 3. worker end to end ----------------------------------------------------------------------


def worker_backlog(inputs: Settings, app_id: str, store: str, tmp: Path, ends: dict[
        TopicPartition, int], *, timeout_s: float, profile: Path | None = None,
        profile_window: tuple[float, float] = (20.0, 60.0), batch_size: int | None = None,
        max_message_bytes: int = 0, restart: bool = False,
        evict: str | None = None) -> dict[str, Any]:
    """One worker from start until the group has committed every input offset (with
    `restart`, then another on the state it left: `restarted`).

    With `profile`, py-spy samples it for profile_window[1] seconds starting
    profile_window[0] seconds after its first commit, and the run ends with the sampling
    (its rate is then `events_per_s_partial`).
    """
    outputs: dict[str, Any] = {f: f"{app_id}-{getattr(Settings(), f)}" for f in OUTPUT_FIELDS}
    s = replace(inputs, app_id=app_id, **outputs)
    asyncio.run(create_topics(s))
    data = tmp / app_id
    worker = Worker(s, data, store=store, lateness_ms=60_000, batch_size=batch_size,
                    max_message_bytes=max_message_bytes, evict=evict)
    load_before = load()
    peak = [0]
    spies: list[subprocess.Popen[bytes]] = []

    first_commit: list[float] = []

    def on_poll(n: int) -> None:
        rss, _ = proc_rss(worker.pid)
        peak[0] = max(peak[0], rss)
        if n > 0 and not first_commit:
            first_commit.append(time.perf_counter())
        if (profile is not None and not spies and first_commit
                and time.perf_counter() - first_commit[0] >= profile_window[0]):
            spies.extend(start_py_spy(worker.pid, profile, profile_window[1]))

    def profiled() -> bool:
        return bool(spies) and all(spy.poll() is not None for spy in spies)

    worker.start()
    rss_start = 0
    try:
        rss_start = worker.wait_web()
        watcher = GroupWatcher(s.bootstrap_servers, app_id, ends)
        out = asyncio.run(watcher.watch(worker.started, timeout_s, worker.alive, on_poll,
                                        profiled if profile is not None else None))
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
        out["cpu_seconds"] = cpu = proc_cpu_s(worker.pid)
        out["events_per_cpu_s"] = out["committed"] / cpu if cpu else None
        time.sleep(1.5)  # the last table writes and commit
        rss, hwm = proc_rss(worker.pid)
        out.update({"store": store, "max_message_bytes": max_message_bytes or None,
                    "evict": evict or Settings().evict,
                    "rss_bytes": rss, "rss_peak_bytes": max(hwm, peak[0]),
                    "rss_at_start_bytes": rss_start, "data_dir_bytes": du_bytes(data),
                    "load_before": load_before, "load_after": load()})
        out["worker"] = worker.metrics()
        alerts = end_offsets(s, [s.topic_alerts])
        out["alerts_topic_records"] = sum(alerts.values())
        dead = end_offsets(s, [s.topic_dead_letters])
        out["dead_letter_records"] = sum(dead.values())
        out["metrics_topic_records"] = topic_records(s.bootstrap_servers, s.topic_metrics)
        out["changelog_records"] = topic_records(s.bootstrap_servers,
                                                 f"{app_id}-state-changelog")
        if not out["completed"]:
            out["error"] = f"not all committed ({out['committed']}/{out['events']})"
            out["log"] = str(worker.log_path)
            out["log_errors"] = log_errors(worker.log_path)
        elif restart:
            worker.stop()
            out["restarted"] = worker_restarted(s, data, store, timeout_s, evict)
    finally:
        worker.stop()
        for spy in spies:
            if spy.poll() is None:
                spy.kill()
    if profile is not None:
        out["profile"] = summarize_profile(profile.with_suffix(".txt"))
    shutil.rmtree(data, ignore_errors=True)
    return out


def worker_restarted(s: Settings, data: Path, store: str, timeout_s: float,
                     evict: str | None = None) -> dict[str, Any]:
    """A worker started again on the local state and changelog another left.

    A partition is restored when its first record comes, so once the worker has its
    partitions, one event per partition is sent, too late to count (dead-lettered; it
    changes no state): the time until the group commits them is the restore's, and the
    RSS then is what the restored state takes (the peak: what restoring took).
    """
    worker = Worker(s, data, store=store, lateness_ms=60_000, evict=evict)
    peak = [0]
    worker.start()
    try:
        rss_start = worker.wait_web()
        assigned_s = worker.wait_assigned(timeout_s=300)
        sellers: dict[int, str] = {}
        for i in range(1, 10_000):
            sellers.setdefault(partition_for(f"S{i:05d}", s.partitions), f"S{i:05d}")
            if len(sellers) == s.partitions:
                break
        late = [(topic_for("order_cancelled", s), sid.encode(), orjson.dumps({
            "event_id": f"restart-{sid}", "type": "order_cancelled",
            "event_time": "2020-01-01T00:00:00.000Z", "seller_id": sid,
            "order_id": "restart", "cancelled_by": "buyer", "reason": "other"}))
            for sid in sellers.values()]
        before = end_offsets(s, list(s.input_topics))
        sent_at = time.perf_counter()
        asyncio.run(produce(s, iter(late)))
        ends = end_offsets(s, list(s.input_topics))
        assert sum(ends.values()) - sum(before.values()) == len(late)

        def on_poll(n: int) -> None:
            peak[0] = max(peak[0], proc_rss(worker.pid)[0])

        watcher = GroupWatcher(s.bootstrap_servers, s.app_id, ends)
        out = asyncio.run(watcher.watch(sent_at, timeout_s, worker.alive, on_poll))
        restore_s = time.perf_counter() - sent_at
        time.sleep(1.5)
        rss, hwm = proc_rss(worker.pid)
        return {"completed": out["completed"], "assigned_after_s": assigned_s,
                "restore_s": restore_s, "rss_at_start_bytes": rss_start, "rss_bytes": rss,
                "rss_peak_bytes": max(hwm, peak[0]), "worker": worker.metrics(),
                "log": str(worker.log_path)}
    except RuntimeError as exc:
        return {"completed": False, "error": str(exc)[:2000], "log": str(worker.log_path)}
    finally:
        worker.stop()


def worker_group_backlog(inputs: Settings, app_id: str, store: str, tmp: Path, ends: dict[
        TopicPartition, int], *, processes: int, timeout_s: float,
        evict: str | None = None) -> dict[str, Any]:
    """`processes` workers of one consumer group (the partitions shared among them) from
    start until the group has committed every input offset."""
    outputs: dict[str, Any] = {f: f"{app_id}-{getattr(Settings(), f)}" for f in OUTPUT_FIELDS}
    s = replace(inputs, app_id=app_id, **outputs)
    asyncio.run(create_topics(s))
    dirs = [tmp / f"{app_id}-{i}" for i in range(processes)]  # logs go to <tmp-dir>/logs
    workers = [Worker(s, d, store=store, lateness_ms=60_000, evict=evict, name=d.name)
               for d in dirs]
    load_before = load()
    peak = [0]

    def on_poll(n: int) -> None:
        peak[0] = max(peak[0], sum(proc_rss(w.pid)[0] for w in workers))

    for w in workers:
        w.start()
    try:
        for w in workers:
            w.wait_web()
        watcher = GroupWatcher(s.bootstrap_servers, app_id, ends)
        out = asyncio.run(watcher.watch(min(w.started for w in workers), timeout_s,
                                        lambda: all(w.alive() for w in workers), on_poll))
        out["cpu_seconds"] = cpu = sum(proc_cpu_s(w.pid) for w in workers)
        out["events_per_cpu_s"] = out["committed"] / cpu if cpu else None
        time.sleep(1.5)
        out.update({"store": store, "processes": processes, "evict": evict or Settings().evict,
                    "rss_bytes": sum(proc_rss(w.pid)[0] for w in workers),
                    "rss_peak_bytes": peak[0], "data_dir_bytes": sum(map(du_bytes, dirs)),
                    "load_before": load_before, "load_after": load(),
                    "partitions_per_worker": [len(json.loads(w.get("/health")).get(
                        "partitions", [])) for w in workers]})
        if not out["completed"]:
            out["error"] = f"not all committed ({out['committed']}/{out['events']})"
            out["log"] = str(workers[0].log_path)
    finally:
        for w in workers:
            w.stop()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    return out


def too_large(w: dict[str, Any]) -> bool:
    """Whether a worker run ended on a record over the producer's or broker's size limit."""
    return not w.get("completed") and any("MessageSizeTooLarge" in ln
                                          for ln in w.get("log_errors", []))


def log_errors(path: Path, limit: int = 3) -> list[str]:
    """The first ERROR/CRITICAL lines of a worker log."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [ln[:400] for ln in lines if "[ERROR]" in ln or "[CRITICAL]" in ln][:limit]


def start_py_spy(pid: int, svg: Path, seconds: float) -> list[subprocess.Popen[bytes]]:
    """Two samplers: a flame graph (SVG) and collapsed stacks (for the hot spot table)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        log("py-spy not found: no profile (pip install py-spy)")
        return []
    svg.parent.mkdir(parents=True, exist_ok=True)
    procs = []
    for fmt, path in (("flamegraph", svg), ("raw", svg.with_suffix(".txt"))):
        procs.append(subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--rate", "100", "--format", fmt,
             "--duration", str(int(seconds)), "--output", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def summarize_profile(raw: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares of the hottest functions from py-spy's collapsed stacks."""
    if not raw.exists():
        return {"error": f"{raw} not written"}
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r" \((.*/)?([^/]+)\)$", r" (\2)", f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith(
            "thread ")]
        if frames:
            own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return {"error": "no samples"}
    return {
        "samples": total,
        "self": [(f, round(100 * n / total, 1)) for f, n in own.most_common(top)],
        "inclusive": [(f, round(100 * n / total, 1)) for f, n in incl.most_common(top * 3)],
        "collapsed": str(raw.relative_to(ROOT) if raw.is_relative_to(ROOT) else raw),
    }


# -- 4. latency ------------------------------------------------------------------------------


def latency(bootstrap: str, prefix: str, tmp: Path, *, duration_s: float, rate: float,
            lateness_ms: int, sellers: int,
            burst_every_s: float) -> dict[str, Any]:
    """Steady live load with late-shipment bursts; deadline -> alert read."""
    app_id = f"{prefix}-lat"
    s = topic_set(bootstrap, app_id, app_id)
    asyncio.run(create_topics(s))
    worker = Worker(s, tmp / app_id, store="memory://", lateness_ms=lateness_ms)
    load_before = load()
    worker.start()
    try:
        ready_s = worker.wait_assigned()
        gen = LiveLoad(s, sellers=sellers, rate=rate, burst_every_s=burst_every_s)
        cpu0 = proc_cpu_s(worker.pid)
        result = asyncio.run(gen.run(duration_s, s.topic_alerts))
        cpu = proc_cpu_s(worker.pid) - cpu0
        warmup_s = min(3.0, duration_s / 4)
        lat = result.latencies_ms(warmup_s)
        counted = [b for b in result.bursts
                   if b.started_ms >= result.bursts[0].started_ms + warmup_s * 1000]
        send_lat = [b.alert_read_ms - b.late_sent_ms for b in counted
                    if b.alert_read_ms is not None and b.late_sent_ms is not None]
        rss, hwm = proc_rss(worker.pid)
        metrics = worker.metrics()
        return {
            "offered_events_per_s": rate,
            "sent_events_per_s": result.sent / result.seconds,
            "seconds": result.seconds,
            "allowed_lateness_ms": lateness_ms,
            "store": "memory://",
            "bursts": len(counted),
            "alerted": len(lat),
            "missed": len(counted) - len(lat),
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "max_ms": float(max(lat)) if lat else None,
            "min_ms": float(min(lat)) if lat else None,
            "from_send_p50_ms": percentile(send_lat, 50),
            "from_send_p99_ms": percentile(send_lat, 99),
            "worker_ready_s": ready_s,
            "worker_cpu_fraction": cpu / result.seconds,
            "worker_batch_busy_fraction": metrics.get("batch_seconds_sum", 0) / result.seconds,
            "worker_mean_batch_records": metrics.get("batch_records_sum", 0) / max(
                1, metrics.get("batches", 0)),
            "samples_ms": [(b.started_ms - counted[0].started_ms if counted else 0,
                            None if b.alert_read_ms is None else b.alert_read_ms - b.deadline_ms)
                           for b in counted],
            "other_alerts": result.other_alerts,
            "worker": metrics,
            "rss_bytes": rss, "rss_peak_bytes": hwm,
            "load_before": load_before, "load_after": load(),
        }
    finally:
        worker.stop()
        shutil.rmtree(tmp / app_id, ignore_errors=True)


# -- 5. state at scale ------------------------------------------------------------------------


def state_in_process(path: Path) -> dict[str, Any]:
    """bench/state_scale.py in a fresh process."""
    done = subprocess.run([sys.executable, str(ROOT / "bench/state_scale.py"), str(path)],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return {"error": done.stderr[-800:]}
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


# -- 6. Quix Streams ------------------------------------------------------------------------------


def quix(python: str, inputs: Settings, prefix: str, tmp: Path, *, timeout_s: float) -> dict[
        str, Any]:
    """bench/quix_late_shipment.py over the orders and shipments topics, timed like the worker."""
    if not Path(python).exists():
        return {"skipped": f"{python} not found; python3 -m venv /tmp/quixvenv && "
                           f"/tmp/quixvenv/bin/pip install quixstreams"}
    check = subprocess.run([python, "-c", "import quixstreams; print(quixstreams.__version__)"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        return {"skipped": f"quixstreams does not import in {python}: {check.stderr[-400:]}"}
    group = f"{prefix}-quix"
    state_dir = tmp / group
    state_dir.mkdir(parents=True, exist_ok=True)
    topics = [inputs.topic_orders, inputs.topic_shipments]
    ends = end_offsets(inputs, topics)
    logf = tmp.parent / "logs" / f"{group}.log"
    logf.parent.mkdir(parents=True, exist_ok=True)
    cmd = [python, str(ROOT / "bench/quix_late_shipment.py"),
           "--bootstrap", inputs.bootstrap_servers, "--orders", inputs.topic_orders,
           "--shipments", inputs.topic_shipments, "--output", f"{group}-late-shipments",
           "--group", group, "--state-dir", str(state_dir / "state")]
    load_before = load()
    started = time.perf_counter()
    with logf.open("ab") as out_f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out_f, stderr=subprocess.STDOUT)
    peak = [0]

    def on_poll(_: int) -> None:
        peak[0] = max(peak[0], proc_rss(proc.pid)[0])

    try:
        watcher = GroupWatcher(inputs.bootstrap_servers, group, ends)
        out = asyncio.run(watcher.watch(started, timeout_s, lambda: proc.poll() is None,
                                        on_poll))
        out["cpu_seconds"] = cpu = proc_cpu_s(proc.pid)
        out["events_per_cpu_s"] = out["events"] / cpu if cpu else None
        rss, hwm = proc_rss(proc.pid)
        out.update({"version": check.stdout.strip(), "topics": ["orders", "shipments"],
                    "rss_bytes": rss, "rss_peak_bytes": max(hwm, peak[0]),
                    "state_dir_bytes": du_bytes(state_dir / "state"),
                    "load_before": load_before, "load_after": load(),
                    "command": " ".join(cmd)})
        out["output_records"] = topic_records(inputs.bootstrap_servers,
                                              f"{group}-late-shipments")
        if not out["completed"]:
            out["error"] = logf.read_text(errors="replace")[-1500:]
    finally:
        stop_process(proc, timeout=10)
        shutil.rmtree(state_dir, ignore_errors=True)
    return out


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Sizes:
    backlog_sellers: int
    backlog_events: int
    backlog_days: int
    engine_events: int
    scale_sellers: int
    scale_days: int
    scale_orders_per_seller_day: float
    heavy_sellers: int
    heavy_days: int
    heavy_orders_per_seller_day: float
    latency_s: float
    stores: tuple[str, ...]
    timeout_s: float


def sizes(args: argparse.Namespace) -> Sizes:
    if args.quick:
        q = Sizes(200, 20_000, 30, 20_000, 0, 2, 1.0, 0, 90, 8.0, 8.0, ("memory://",), 120)
    else:
        q = Sizes(10_000, 1_000_000, 30, 1_000_000, 1_000_000, 2, 1.0, 1_000, 90, 8.0, 60.0,
                  ("memory://", "rocksdb://"), 1800)
    for field in ("backlog_sellers", "backlog_events", "engine_events", "scale_sellers",
                  "heavy_sellers", "latency_s"):
        value = getattr(args, field)
        if value is not None:
            setattr(q, field, value)
    if args.stores:
        q.stores = tuple(args.stores.split(","))
    return q


def run(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    ensure_broker(bootstrap)
    z = sizes(args)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    tmp = Path(args.tmp_dir) / prefix
    tmp.mkdir(parents=True, exist_ok=True)
    data_dir = Path(args.data_dir)
    skip = set(args.skip.split(",")) if args.skip else set()
    r: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.python_implementation()} "
                   f"{platform.python_version()}, {os.cpu_count()} cores",
        "quick": args.quick, "prefix": prefix, "bootstrap": bootstrap,
        "load_at_start": load(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git_at_start": git_state(),
    }
    try:
        opsd = round(z.backlog_events / (z.backlog_sellers * z.backlog_days * EVENTS_PER_ORDER), 4)
        backlog = Backlog.make(data_dir, z.backlog_sellers, z.backlog_days, opsd)
        inputs = topic_set(bootstrap, f"{prefix}-in", f"{prefix}-in")
        log(f"producing {backlog.path.name} to {prefix}-in-*")
        r["backlog"] = backlog.load(inputs)
        r["backlog"].update({"sellers": z.backlog_sellers, "days": z.backlog_days,
                             "orders_per_seller_day": opsd, "file": backlog.path.name})
        ends = end_offsets(inputs, list(inputs.input_topics))
        if "limits" not in skip:
            log("ConsumerPerformance")
            r["consumer_perf"] = consumer_perf(inputs, sum(ends.values()))
            log("raw aiokafka + orjson")
            r["raw_aiokafka"] = raw_aiokafka(inputs, ends)
            for mode in ("stream", "fetch", "ack"):
                log(f"Faust app doing nothing ({mode})")
                r[f"faust_{mode}"] = faust_ceiling(inputs, sum(ends.values()), mode,
                                                   z.timeout_s)
        if "engine" not in skip:
            log(f"engine alone ({z.engine_events:,} events)")
            r["engine"] = engine_alone(z.engine_events, data_dir,
                                       jsonschema=not args.quick)
        r["worker"] = {}
        big = args.max_message_bytes
        if "worker" not in skip:
            runs: dict[str, list[dict[str, Any]]] = {}
            for i in range(args.repeat):  # stores interleaved: drift hits each alike
                for store in z.stores:
                    name = store.split(":")[0]
                    app_id = f"{prefix}-w{name}" + (f"r{i + 1}" if i else "")
                    log(f"worker end to end, {store}"
                        + (f", run {i + 1} of {args.repeat}" if args.repeat > 1 else ""))
                    w = worker_backlog(inputs, app_id, store, tmp, ends,
                                       timeout_s=z.timeout_s, evict=args.evict)
                    if too_large(w) and big:
                        log(f"worker {store} crashed on a table record over 1 MB; again, "
                            f"allowing records up to {big:,} bytes")
                        retry = worker_backlog(inputs, f"{app_id}b", store, tmp, ends,
                                               timeout_s=z.timeout_s, max_message_bytes=big,
                                               evict=args.evict)
                        retry["as_shipped"] = w
                        w = retry
                    runs.setdefault(name, []).append(w)
            for name, ws in runs.items():
                r["worker"][name] = median_run(ws)
            if args.workers > 1:
                store = z.stores[-1]
                name = store.split(":")[0]
                log(f"worker end to end, {store}, {args.workers} processes of one group")
                r["worker"][f"{name}_x{args.workers}"] = worker_group_backlog(
                    inputs, f"{prefix}-g{name}", store, tmp, ends, processes=args.workers,
                    timeout_s=z.timeout_s, evict=args.evict)
        if args.profile:
            log(f"worker under py-spy, {args.profile_store}")
            r["worker_profiled"] = worker_backlog(
                inputs, f"{prefix}-wprof", args.profile_store, tmp, ends,
                timeout_s=z.timeout_s, profile=Path(args.profile_svg),
                profile_window=(args.profile_after_s, args.profile_s), max_message_bytes=big)
        if "quix" not in skip:
            log("Quix Streams")
            r["quix"] = quix(args.quix_python, inputs, prefix, tmp, timeout_s=z.timeout_s)
        if "latency" not in skip:
            log(f"latency ({z.latency_s:.0f} s at {args.rate:,.0f} events/s)")
            r["latency"] = latency(bootstrap, prefix, tmp, duration_s=z.latency_s,
                                   rate=args.rate, lateness_ms=args.lateness_ms,
                                   sellers=args.live_sellers, burst_every_s=args.burst_every_s)
        if "state" not in skip:
            r["state"] = state_scale(bootstrap, prefix, tmp, data_dir, z, backlog,
                                     args.max_message_bytes, args.state_evict)
    finally:
        if not args.keep_topics:
            try:
                deleted = asyncio.run(_delete_topics(bootstrap, prefix))
                log(f"deleted {len(deleted)} topics")
            except Exception as exc:  # the broker went away: leave them
                log(f"could not delete topics: {exc}")
        shutil.rmtree(tmp, ignore_errors=True)
    r["load_at_end"] = load()
    r["git_at_end"] = git_state()
    return r


def state_scale(bootstrap: str, prefix: str, tmp: Path, data_dir: Path, z: Sizes,
                backlog: Backlog, max_message_bytes: int, evict: str) -> dict[str, Any]:
    """A RocksDB worker and the engine alone on many sellers with few orders each."""
    out: dict[str, Any] = {}
    if z.scale_sellers:
        scale = Backlog.make(data_dir, z.scale_sellers, z.scale_days,
                             z.scale_orders_per_seller_day)
        s = topic_set(bootstrap, f"{prefix}-sc", f"{prefix}-sc")
        log(f"state at scale: producing {scale.path.name}")
        out["backlog"] = scale.load(s)
        out["backlog"].update({"sellers_simulated": z.scale_sellers, "days": z.scale_days,
                               "orders_per_seller_day": z.scale_orders_per_seller_day})
        ends = end_offsets(s, list(s.input_topics))
        log("state at scale: worker, rocksdb://")
        # Restarted too: a restored worker holds the state without what the running one
        # freed but kept, so the two restores give a steadier bytes-per-seller figure.
        w = worker_backlog(s, f"{prefix}-scw", "rocksdb://", tmp, ends, timeout_s=z.timeout_s,
                           evict=evict, restart=True)
        if too_large(w) and max_message_bytes:
            log("state at scale: crashed on a table record over 1 MB; again, allowing "
                f"records up to {max_message_bytes:,} bytes")
            retry = worker_backlog(s, f"{prefix}-scwb", "rocksdb://", tmp, ends,
                                   timeout_s=z.timeout_s, max_message_bytes=max_message_bytes,
                                   evict=evict, restart=True)
            retry["as_shipped"] = w
            w = retry
        out["worker_rocksdb"] = w
        log("state at scale: engine alone")
        out["engine"] = state_in_process(scale.path)
        if z.heavy_sellers:
            heavy = scale.with_heavy(data_dir, z.heavy_sellers, z.heavy_days,
                                     z.heavy_orders_per_seller_day)
            h = topic_set(bootstrap, f"{prefix}-sh", f"{prefix}-sh")
            log(f"state at scale, plus {z.heavy_sellers:,} sellers with {z.heavy_days} days: "
                f"producing {heavy.path.name}")
            out["heavy_backlog"] = heavy.load(h)
            out["heavy_backlog"].update({
                "heavy_sellers": z.heavy_sellers, "heavy_days": z.heavy_days,
                "heavy_orders_per_seller_day": z.heavy_orders_per_seller_day})
            log("state at scale, plus the heavy sellers: worker, rocksdb://")
            out["heavy_worker_rocksdb"] = worker_backlog(
                h, f"{prefix}-shw", "rocksdb://", tmp, end_offsets(h, list(h.input_topics)),
                timeout_s=z.timeout_s, max_message_bytes=max_message_bytes, restart=True,
                evict=evict)
            log("state at scale, plus the heavy sellers: engine alone (holding every object)")
            out["heavy_engine"] = state_in_process(heavy.path)
    log("state of the throughput backlog: engine alone")
    out["engine_backlog"] = state_in_process(backlog.path)
    return out


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Of repeated worker runs, the one with the median rate (the lower middle one of an
    even number), with every run's rates under `repeats`; a failed run is the result if
    any failed."""
    failed = [w for w in runs if not w.get("completed")]
    if failed or len(runs) == 1:
        return failed[0] if failed else runs[0]
    ordered = sorted(runs, key=lambda w: float(w["events_per_s"]))
    out = dict(ordered[(len(ordered) - 1) // 2])
    out["repeats"] = [{k: w.get(k) for k in ("events_per_s", "events_per_s_to_most",
                                             "events_per_cpu_s", "rss_bytes")} for w in runs]
    return out


def ratios(r: dict[str, Any]) -> dict[str, float | None]:
    """Worker and Quix rates against the raw consumer, and ours against Quix."""
    def rate(*path: str) -> float | None:
        node: Any = r
        for p in path:
            if not isinstance(node, dict) or p not in node:
                return None
            node = node[p]
        return float(node) if isinstance(node, int | float) and node else None

    raw = rate("raw_aiokafka", "events_per_s")
    perf = rate("consumer_perf", "events_per_s")
    q = rate("quix", "events_per_s")
    out: dict[str, float | None] = {
        "raw_aiokafka_to_broker": raw / perf if raw and perf else None}
    for store in r.get("worker", {}):
        w = rate("worker", store, "events_per_s")
        out[f"worker_{store}_to_raw_aiokafka"] = w / raw if w and raw else None
        out[f"worker_{store}_to_quix"] = w / q if w and q else None
        most = rate("worker", store, "events_per_s_to_most")
        out[f"worker_{store}_to_most_to_raw_aiokafka"] = most / raw if most and raw else None
    out["quix_to_raw_aiokafka"] = q / raw if q and raw else None
    ack = rate("faust_ack", "events_per_s")
    out["faust_ack_to_raw_aiokafka"] = ack / raw if ack and raw else None
    return out


# -- output -----------------------------------------------------------------------------------


def _fmt(v: Any, unit: str = "", digits: int = 0) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float | int):
        return f"{v:,.{digits}f}{unit}"
    return str(v)


def _mb(v: Any) -> str:
    return "n/a" if v is None else f"{v / 2**20:,.0f} MiB"


def _ld(x: Any) -> str:
    return "/".join(f"{v:.2f}" for v in x) if x else ""


def rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, result, load average 1/5/15 min at its start)."""
    out: list[tuple[str, str, str]] = []
    b = r.get("backlog", {})
    out.append(("backlog: events / sellers / MB",
                f"{b.get('events', 0):,} / {b.get('sellers', 0):,} / "
                f"{b.get('bytes', 0) / 1e6:,.0f}", ""))
    out.append(("  produced (aiokafka, acks=all)", _fmt(b.get("produce_events_per_s"),
                                                        " events/s"), ""))
    cp = r.get("consumer_perf")
    if cp:
        if "error" in cp:
            out.append(("1a broker: ConsumerPerformance", "error: " + cp["error"][:60], ""))
        else:
            out.append(("1a broker: ConsumerPerformance",
                        f"{cp['events_per_s']:,.0f} events/s, {cp['mb_per_s']:,.1f} MB/s",
                        _ld(cp.get("load_before"))))
    raw = r.get("raw_aiokafka")
    if raw:
        out.append(("1b raw aiokafka + orjson.loads", _fmt(raw.get("events_per_s"), " events/s"),
                    _ld(raw.get("load_before"))))
    for mode, what in (("stream", "1c Faust agent doing nothing: take_events(2000)"),
                       ("fetch", "1d the same, whole fetches (streams.kafka.fetching)"),
                       ("ack", "1e 1d + orjson.loads and Faust ack per record")):
        f = r.get(f"faust_{mode}")
        if f:
            result = ("error: " + f["error"][:60] if "error" in f else
                      _fmt(f["events_per_s"], " events/s"))
            if mode == "ack" and "error" not in f:
                result += (f" = {_fmt(r.get('ratios', {}).get('faust_ack_to_raw_aiokafka'), '', 3)}"
                           " x raw")
            out.append((what, result, _ld(f.get("load_before"))))
    e = r.get("engine")
    if e:
        if "error" in e:
            out.append(("2  engine", "error", ""))
        else:
            ld = _ld(e.get("load_before"))
            out.append((f"2  engine: decode + validate ({e['events']:,} events)",
                        _fmt(e["decode_validate_events_per_s"], " events/s"), ld))
            out.append(("2  engine: apply (sorted)", _fmt(e["apply_events_per_s"], " events/s"),
                        ld))
            out.append(("2  engine: file -> alerts, one core",
                        _fmt(e["end_to_end_events_per_s"], " events/s"), ld))
    ratio = r.get("ratios", {})
    for store, w in r.get("worker", {}).items():
        label = (f"3  {w['processes']} workers {w['store']}" if "processes" in w
                 else f"3  worker {store}://")
        shipped = w.get("as_shipped")
        if shipped:
            out.append((label + " as shipped", failure(shipped), _ld(shipped.get("load_before"))))
            label += f" records <= {w['max_message_bytes'] >> 20} MiB"
        if not w.get("completed"):
            out.append((label, failure(w), _ld(w.get("load_before"))))
            continue
        out.append((label + " (from first commit)",
                    f"{w['events_per_s']:,.0f} events/s = "
                    f"{_fmt(ratio.get(f'worker_{store}_to_raw_aiokafka'), '', 4)} x raw",
                    _ld(w.get("load_before"))))
        if w.get("repeats"):
            rates = sorted(float(x["events_per_s"]) for x in w["repeats"])
            out.append((label + " runs", f"median of {len(rates)}: "
                        f"{', '.join(f'{v:,.0f}' for v in rates)} events/s", ""))
        if w.get("events_per_s_to_most"):
            out.append((label + f" (to {100 * MOST:g} % committed)",
                        f"{w['events_per_s_to_most']:,.0f} events/s = "
                        f"{_fmt(ratio.get(f'worker_{store}_to_most_to_raw_aiokafka'), '', 4)}"
                        f" x raw; the rest {w['tail_s']:.1f} s (idle flush)", ""))
        out.append((label + " (from process start)",
                    f"{w['events_per_s_from_start']:,.0f} events/s "
                    f"(startup {w['startup_to_first_commit_s']:.1f} s)", ""))
        out.append((label + " CPU", f"{w['events_per_cpu_s']:,.0f} events per CPU-s", ""))
        stages = _stages(w)
        if stages:
            out.append((label + " wall time", stages, ""))
        out.append((label + " RSS / data dir",
                    f"{_mb(w['rss_bytes'])} / {_mb(w['data_dir_bytes'])}", ""))
        if "partitions_per_worker" in w:
            out.append((label + " partitions each",
                        " / ".join(map(str, w["partitions_per_worker"])), ""))
    wp = r.get("worker_profiled")
    if wp:
        rate = wp.get("events_per_s") or wp.get("events_per_s_partial")
        out.append((f"   worker {wp.get('store')} under py-spy", _fmt(rate, " events/s"),
                    _ld(wp.get("load_before"))))
    lat = r.get("latency")
    if lat:
        # batch_within_s: results from before 2026-11-27 (batches filled by Faust's stream)
        within = f", batch {lat['batch_within_s']} s" if "batch_within_s" in lat else ""
        out.append((f"4  alert latency at {lat['sent_events_per_s']:,.0f} events/s "
                    f"(lateness {lat['allowed_lateness_ms']} ms{within})",
                    f"p50 {_fmt(lat['p50_ms'], ' ms')}, p99 {_fmt(lat['p99_ms'], ' ms')}, "
                    f"max {_fmt(lat['max_ms'], ' ms')} ({lat['alerted']}/{lat['bursts']} "
                    f"alerted)", _ld(lat.get("load_before"))))
    st = r.get("state", {})
    sw = st.get("worker_rocksdb")
    if sw and sw.get("completed"):
        sellers = sw["worker"].get("sellers") or 0
        base = sw.get("rss_at_start_bytes") or 0
        per = (sw["rss_bytes"] - base) / sellers if sellers else None
        evict = f" (evict {sw['evict']})" if "evict" in sw else ""
        out.append((f"5  worker rocksdb{evict}, {sellers:,.0f} "
                     f"sellers, {_objects(sw['worker'])}",
                    f"RSS {_mb(sw['rss_bytes'])} ({_fmt(per, ' B')}/seller), disk "
                    f"{_mb(sw['data_dir_bytes'])}", _ld(sw.get("load_before"))))
        out += _restored_row(sw)
    hw, hb = st.get("heavy_worker_rocksdb"), st.get("heavy_backlog")
    if hw and hb:
        if hw.get("completed"):
            extra = (hw["rss_bytes"] - sw["rss_bytes"]) / hb["heavy_sellers"] if sw else None
            out.append((f"5  the same plus {hb['heavy_sellers']:,} sellers with "
                        f"{hb['heavy_days']} days ({_objects(hw['worker'])})",
                        f"RSS {_mb(hw['rss_bytes'])} (+{_fmt(extra, ' B')} per seller added), "
                        f"disk {_mb(hw['data_dir_bytes'])}", _ld(hw.get("load_before"))))
        else:
            out.append((f"5  the same plus {hb['heavy_sellers']:,} sellers with "
                        f"{hb['heavy_days']} days", failure(hw), _ld(hw.get("load_before"))))
        out += _restored_row(hw)
    for key, label in (("engine", "5  engine alone, scale backlog"),
                       ("heavy_engine", "5  engine alone (every object held), plus heavy"),
                       ("engine_backlog", "5  engine alone, throughput backlog")):
        es = st.get(key)
        if es and "error" not in es:
            out.append((f"{label} ({es['sellers']:,} sellers)",
                        f"RSS +{_fmt(es['rss_bytes_per_seller'], ' B')}/seller, objects "
                        f"{_fmt(es['deep_size_bytes_per_seller'], ' B')}/seller", ""))
    ext = r.get("extrapolation")
    if ext:
        out.append(("5  1,000,000 sellers (extrapolated from the running workers)",
                    ext["summary"], ""))
        if "restored" in ext:
            out.append(("5  1,000,000 sellers (extrapolated from the restored workers)",
                        ext["restored"]["summary"], ""))
    q = r.get("quix")
    if q:
        if "skipped" in q:
            out.append(("6  Quix Streams", "skipped: " + q["skipped"][:70], ""))
        elif not q.get("completed"):
            out.append(("6  Quix Streams", "did not finish", _ld(q.get("load_before"))))
        else:
            out.append((f"6  Quix Streams {q['version']} (orders+shipments, from first commit)",
                        f"{q['events_per_s']:,.0f} events/s", _ld(q.get("load_before"))))
            for store in ("memory", "rocksdb"):
                v = ratio.get(f"worker_{store}_to_quix")
                if v:
                    out.append((f"6  our worker ({store}://) / Quix", f"{v:.2f} x", ""))
    return out


def _objects(metrics: dict[str, float]) -> str:
    """Open objects, and how many of them in memory, from a worker's metrics."""
    held = metrics.get("open_objects_in_memory")
    return (f"{metrics.get('open_objects', 0):,.0f} open objects"
            + ("" if held is None else f", {held:,.0f} in memory"))


def failure(w: dict[str, Any]) -> str:
    """One line on why a worker run did not finish."""
    reason = ""
    for line in w.get("log_errors", []):
        size = re.search(r"The message is (\d+) bytes", line)
        if size:
            reason = f"MessageSizeTooLargeError: a {int(size.group(1)):,}-byte table record"
            break
        m = re.search(r"reason=(\w+)\((.{0,60})", line)
        if m and not reason:
            reason = f"{m.group(1)}: {m.group(2)}"
    return (f"CRASHED after {w.get('committed', 0):,} of {w.get('events', 0):,} events"
            f"{': ' + reason if reason else ''}")


def _restored_row(w: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The table row of the worker restarted on a state-at-scale worker's state."""
    again = w.get("restarted")
    if again and again.get("completed"):
        return [("5  a new worker restoring that state (one record per partition)",
                 f"restored in {again['restore_s']:,.1f} s, RSS {_mb(again['rss_bytes'])}"
                 f" (peak {_mb(again['rss_peak_bytes'])})", "")]
    if again:
        return [("5  a new worker restoring that state",
                 "did not finish: " + again.get("error", "")[:60], "")]
    return []


def extrapolate(r: dict[str, Any]) -> dict[str, Any] | None:
    """1,000,000 sellers all with state, 0.1 %, 1 % or 10 % of them with 90 days of orders.

    From the worker's RSS measured twice: on the scale backlog (bytes per seller with
    state), and on it plus the heavy sellers (bytes per heavy seller, the difference).
    Results from before the heavy run (2026-11-27) use `extrapolate_engine`.
    """
    st = r.get("state", {})
    a, b, hb = st.get("worker_rocksdb"), st.get("heavy_worker_rocksdb"), st.get("heavy_backlog")
    if not (a and a.get("completed") and b and b.get("completed") and hb):
        return extrapolate_engine(r)
    sellers, days = a["worker"]["sellers"], hb["heavy_days"]

    def estimate(light_rss: int, light_base: int, heavy_rss: int) -> tuple[
            float, float, dict[str, float]]:
        light = (light_rss - light_base) / sellers
        heavy = (heavy_rss - light_rss) / hb["heavy_sellers"]
        return light, heavy, {f"{frac:.1%}": light_base + 1_000_000 * (
            (1 - frac) * light + frac * heavy) for frac in (0.0, 0.001, 0.01, 0.1)}

    def said(light: float, heavy: float, est: dict[str, float]) -> str:
        return (f"{light:,.0f} B/seller, {heavy:,.0f} B/seller with {days} days: "
                + ", ".join(f"{k} with {days} days {v / 2**30:,.2f} GiB"
                            for k, v in est.items()))

    base = a.get("rss_at_start_bytes") or 0
    light, heavy, est = estimate(a["rss_bytes"], base, b["rss_bytes"])
    out = {
        "worker_rss_bytes_per_seller": light,
        "worker_rss_bytes_per_heavy_seller": heavy,
        "heavy_days": days,
        "heavy_orders_per_seller_day": hb["heavy_orders_per_seller_day"],
        "worker_rss_base_bytes": base,
        "rss_bytes_for_1m_sellers_by_90_day_fraction": est,
        "summary": said(light, heavy, est),
    }
    ra, rb = a.get("restarted"), b.get("restarted")
    if ra and ra.get("completed") and rb and rb.get("completed"):
        # The same from two restored workers (no memory freed and kept by the allocator).
        light, heavy, est = estimate(ra["rss_bytes"], ra.get("rss_at_start_bytes") or 0,
                                     rb["rss_bytes"])
        out["restored"] = {"rss_bytes_per_seller": light, "rss_bytes_per_heavy_seller": heavy,
                           "rss_bytes_for_1m_sellers_by_90_day_fraction": est,
                           "summary": said(light, heavy, est)}
    return out


def extrapolate_engine(r: dict[str, Any]) -> dict[str, Any] | None:
    """1,000,000 sellers, from bytes per seller and per open object, measured twice.

    The engine alone ran on two compositions (many sellers with few objects; fewer sellers
    with many): two equations give its resident bytes per seller and per open object. The
    worker's RSS on the first, over the engine's, gives the worker's overhead factor. A
    seller with 90 days of orders at 8 a day holds as many open objects as bench_engine.py's
    sellers do.
    """
    st = r.get("state", {})
    sw, a, b = st.get("worker_rocksdb"), st.get("engine"), st.get("engine_backlog")
    eng = r.get("engine") or {}
    if not (sw and sw.get("completed") and a and b) or "error" in a or "error" in b:
        return None
    s1, o1, m1 = a["sellers"], a["open_objects"], a["rss_delta_bytes"]
    s2, o2, m2 = b["sellers"], b["open_objects"], b["rss_delta_bytes"]
    det = s1 * o2 - s2 * o1
    if not det:
        return None
    per_seller = (m1 * o2 - m2 * o1) / det
    per_object = (s1 * m2 - s2 * m1) / det
    base = sw.get("rss_at_start_bytes") or 0
    overhead = (sw["rss_bytes"] - base) / m1 if m1 else 1.0
    few = o1 / s1  # open objects of a seller in the scale backlog
    heavy = (eng.get("open_objects", 0) / eng["sellers"]) if eng.get("sellers") else 0.0
    est = {}
    for frac in (0.0, 0.01, 0.1):
        objects = 1_000_000 * ((1 - frac) * few + frac * heavy)
        est[f"{frac:.0%}"] = base + overhead * (1_000_000 * per_seller + objects * per_object)
    return {
        "engine_rss_bytes_per_seller": per_seller,
        "engine_rss_bytes_per_open_object": per_object,
        "worker_rss_over_engine": overhead,
        "worker_rss_base_bytes": base,
        "open_objects_per_seller_few_orders": few,
        "open_objects_per_seller_90_days": heavy,
        "rss_bytes_for_1m_sellers_by_90_day_fraction": est,
        "summary": f"{per_seller:,.0f} B/seller + {per_object:,.0f} B/open object, worker "
                   f"x{overhead:.1f}: " + ", ".join(
                       f"{k} with 90 days {v / 2**30:,.1f} GiB" for k, v in est.items()),
    }


def _stages(w: dict[str, Any]) -> str:
    """Where a worker's wall time went: its batch stages and the rest (waiting for input,
    startup, timers), in per cent of the time from process start."""
    m, wall = w.get("worker") or {}, w.get("seconds_from_start")
    if "compute_seconds" not in m or not wall:
        return ""  # results from before the stage counters (2026-11-28)
    parts = [(stage, m[f"{stage}_seconds"]) for stage in ("compute", "publish", "state")]
    parts.append(("other", wall - sum(v for _, v in parts)))
    return " / ".join(f"{name} {100 * v / wall:.0f} %" for name, v in parts)


def render(r: dict[str, Any], json_path: Path | None) -> None:
    """Print the table (and save the JSON)."""
    r["ratios"] = ratios(r)
    ext = extrapolate(r)
    if ext:
        r["extrapolation"] = ext
    g0, g1 = r.get("git_at_start", {}), r.get("git_at_end", {})
    changed = "" if g0 == g1 else f" (streams/ changed during the run: now {g1.get('head')}" \
                                  f" {' '.join(g1.get('streams_uncommitted', []))})"
    dirty = g0.get("streams_uncommitted")
    print(f"{r['machine']}; load average at start {_ld(r['load_at_start'])}, "
          f"at end {_ld(r['load_at_end'])}; {r.get('seconds', 0):.0f} s; code "
          f"{g0.get('head')}{' + uncommitted ' + ' '.join(dirty) if dirty else ''}{changed}")
    print(table(("measure", "result", "load 1/5/15"), rows(r)))
    prof = (r.get("worker_profiled") or {}).get("profile")
    if prof and "self" in prof:
        print(f"\nworker hot spots (py-spy, {prof['samples']:,} samples, self time):")
        for f, pct in prof["self"][:12]:
            print(f"  {pct:5.1f} %  {f}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(r, indent=2, default=str) + "\n")
        print(f"saved {json_path}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (< 60 s), for the smoke test")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "kafka.json")
    p.add_argument("--backlog-events", type=int, default=None,
                   help="events in the throughput backlog [1,000,000; quick 20,000]")
    p.add_argument("--backlog-sellers", type=int, default=None, help="[10,000; quick 200]")
    p.add_argument("--engine-events", type=int, default=None,
                   help="events for bench_engine.py [1,000,000; quick 20,000]")
    p.add_argument("--scale-sellers", type=int, default=None,
                   help="sellers of the state-at-scale backlog, 0 skips the worker part "
                        "[1,000,000; quick 0]")
    p.add_argument("--heavy-sellers", type=int, default=None,
                   help="sellers with 90 days of orders (8 a day on average) added to the "
                        "state-at-scale backlog for a second worker run, 0 skips it "
                        "[1,000; quick 0]")
    p.add_argument("--state-evict", default="all", choices=("none", "settled", "all"),
                   help="SELLERPERF_EVICT of the state-at-scale workers [%(default)s]")
    p.add_argument("--evict", default=None, choices=("none", "settled", "all"),
                   help="SELLERPERF_EVICT of the throughput workers [the worker's default]")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each worker end to end this many times (stores interleaved) "
                        "and report the median run; runs vary by about 10 %% here "
                        "[%(default)s]")
    p.add_argument("--workers", type=int, default=1,
                   help="also run this many worker processes of one group on the last "
                        "store (1: not) [%(default)s]")
    p.add_argument("--stores", default=None,
                   help="worker stores, comma separated [memory://,rocksdb://; quick memory://]")
    p.add_argument("--latency-s", type=float, default=None, help="[60; quick 8]")
    p.add_argument("--rate", type=float, default=2000.0, help="offered load for latency")
    p.add_argument("--lateness-ms", type=int, default=200,
                   help="SELLERPERF_ALLOWED_LATENESS_MS of the latency worker")
    p.add_argument("--live-sellers", type=int, default=2000)
    p.add_argument("--burst-every-s", type=float, default=0.5)
    p.add_argument("--profile", action="store_true",
                   help="also run a worker under py-spy (a run of its own)")
    p.add_argument("--profile-store", default="rocksdb://")
    p.add_argument("--profile-svg", default=str(ROOT / "bench/results/worker-profile.svg"))
    p.add_argument("--quix-python", default=DEFAULT_QUIX_PYTHON)
    p.add_argument("--max-message-bytes", type=int, default=64 << 20,
                   help="when a backlog worker crashes on a table record over Kafka's 1 MB "
                        "default, run it again allowing records up to this size (Faust's "
                        "PRODUCER_MAX_REQUEST_SIZE and the changelog topic's max.message.bytes; "
                        "both runs are reported); 0: no second run [%(default)s]")
    p.add_argument("--profile-after-s", type=float, default=20.0,
                   help="start sampling this long after the first commit [%(default)s]")
    p.add_argument("--profile-s", type=float, default=60.0,
                   help="seconds of sampling; the profiled run ends with it [%(default)s]")
    p.add_argument("--skip", default="",
                   help="comma separated: limits,engine,worker,quix,latency,state")
    p.add_argument("--data-dir", default=str(ROOT / "bench" / ".data"))
    p.add_argument("--tmp-dir", default="/tmp/sellerperf-bench")
    p.add_argument("--keep-topics", action="store_true")
    p.add_argument("--render", type=Path, default=None,
                   help="print the table of a saved result file and exit (no measuring)")
    args = p.parse_args()
    if args.render:
        render(json.loads(args.render.read_text()), None)
        return 0
    started = time.perf_counter()
    r = run(args)
    r["seconds"] = time.perf_counter() - started
    render(r, args.json)
    return 0


def table(headers: tuple[str, ...], body: list[tuple[str, str, str]]) -> str:
    """A plain aligned table."""
    text = [list(headers)] + [list(row) for row in body]
    widths = [max(len(row[i]) for row in text) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(text):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
