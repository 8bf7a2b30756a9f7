"""The ceilings: the broker alone, a raw consumer, a Faust app doing nothing, the engine alone."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.settings import Settings

from .harness import ROOT, load


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


def faust_ceiling(s: Settings, events: int, mode: str, timeout_s: float,
                  work_dir: Path) -> dict[str, Any]:
    """A Faust app doing nothing with the records (faust_ceiling.py) in a process of its own,
    its data dir under `work_dir`: `stream` as Faust apps usually consume, `fetch` as the
    worker does, `ack` as `fetch` plus decoding and acknowledging each record."""
    load_before = load()
    cmd = [sys.executable, str(ROOT / "bench/kafka_bench/faust_ceiling.py"), mode,
           ",".join(s.input_topics), str(s.partitions), str(events)]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers}
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(cmd, cwd=work_dir, env=env, capture_output=True, text=True,
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
