"""The Kafka benchmark still runs end to end on the broker (--quick; figures not judged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


def positive(r: dict[str, Any], *path: str) -> float:
    node: Any = r
    for p in path:
        assert isinstance(node, dict) and p in node, f"missing {'.'.join(path)}"
        node = node[p]
    assert isinstance(node, int | float) and node > 0, f"{'.'.join(path)} = {node!r}"
    return float(node)


def test_bench_kafka_quick(bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "kafka.json"
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    strays_before = set(ROOT.glob("faust-ceiling-*"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_kafka.py"), "--quick", "--json", str(out),
         "--tmp-dir", str(tmp_path / "work")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    strays = set(ROOT.glob("faust-ceiling-*")) - strays_before
    assert not strays, f"the Faust ceiling apps left {sorted(p.name for p in strays)} in {ROOT}"
    r = json.loads(out.read_text())
    assert positive(r, "backlog", "events") >= 10_000
    positive(r, "consumer_perf", "events_per_s")
    positive(r, "consumer_perf", "mb_per_s")
    positive(r, "raw_aiokafka", "events_per_s")
    for mode in ("stream", "fetch", "ack"):
        positive(r, f"faust_{mode}", "events_per_s")
    positive(r, "ratios", "faust_ack_to_raw_aiokafka")
    for key in ("decode_validate_events_per_s", "apply_events_per_s", "end_to_end_events_per_s"):
        positive(r, "engine", key)
    w = r["worker"]["memory"]
    assert w["completed"], w.get("error")
    positive(r, "worker", "memory", "events_per_s")
    positive(r, "worker", "memory", "events_per_s_from_start")
    positive(r, "worker", "memory", "rss_bytes")
    positive(r, "ratios", "worker_memory_to_raw_aiokafka")
    for stage in ("compute", "publish", "state"):
        positive(r, "worker", "memory", "worker", f"{stage}_seconds")
    lat = r["latency"]
    assert lat["alerted"] > 0, lat
    positive(r, "latency", "p50_ms")
    positive(r, "latency", "p99_ms")
    positive(r, "latency", "sent_events_per_s")
    positive(r, "state", "engine_backlog", "rss_bytes_per_seller")
    positive(r, "state", "engine_backlog", "deep_size_bytes_per_seller")
    q = r["quix"]
    if "skipped" not in q:  # Quix Streams lives in a virtualenv of its own, if at all
        assert q["completed"], q.get("error")
        positive(r, "quix", "events_per_s")
    for load in (r["load_at_start"], r["load_at_end"]):
        assert len(load) == 3
    assert "measure" in done.stdout and "events/s" in done.stdout
    assert "1e 1d + orjson.loads" in done.stdout and "wall time" in done.stdout
