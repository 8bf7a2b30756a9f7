"""The engine benchmark still runs (a small smoke run; the figures are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_engine_smoke(tmp_path: Path) -> None:
    out = tmp_path / "engine.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_engine.py"), "--events", "20000",
         "--data-dir", str(ROOT / "bench" / ".data"), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    for key in ("decode_validate_events_per_s", "apply_events_per_s", "end_to_end_events_per_s"):
        assert r[key] > 0, key
    assert r["events"] > 10_000
    assert r["sellers"] > 0
    assert r["state_bytes_per_seller"] > 0
    assert r["facts_bytes_per_open_object"] > 0
    assert "events/s" in done.stdout


def test_repeated_worker_runs_report_the_median_run() -> None:
    from bench.kafka_bench.throughput import median_run

    runs = [{"completed": True, "events_per_s": rate, "events_per_cpu_s": rate / 2, "tag": i}
            for i, rate in enumerate((30.0, 10.0, 20.0, 40.0))]
    out = median_run(runs)
    assert out["tag"] == 2  # 20: the lower middle of 10, 20, 30, 40
    assert [x["events_per_s"] for x in out["repeats"]] == [30.0, 10.0, 20.0, 40.0]
    assert median_run(runs[:3])["tag"] == 2  # 10, 20, 30
    assert "repeats" not in median_run(runs[:1])
    failed = {"completed": False, "error": "not all committed"}
    assert median_run([runs[0], failed, runs[1]]) is failed


def test_bench_day_crossing_quick(tmp_path: Path) -> None:
    out = tmp_path / "day-crossing.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_day_crossing.py"), "--quick",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = json.loads(out.read_text())["runs"]
    assert run["sellers_held"] == run["sellers"] + run["alert_sellers"] == 2010
    assert run["crossing_ms"] > 0 and run["crossing_cpu_ms"] > 0
    assert run["processing"]["max_ms"] >= run["crossing_ms"] > 0
    assert 0 < run["processing"]["p50_ms"] <= run["processing"]["p99_ms"]
    assert run["queued_latency"]["max_ms"] >= run["crossing_ms"] - 1e-6  # float sums
    # Every alert seller's late shipments are due in the minute: each is told, once.
    assert run["breach_alerts"] == run["breach_alerts_expected"] == 10
    assert run["alert_latency"]["max_ms"] is not None and run["alert_latency"]["max_ms"] > 0
    assert "crossing ms" in done.stdout and "per-seller us" in done.stdout


def test_day_crossing_state_built_seller_by_seller_equals_a_replay_in_time_order() -> None:
    """The bench builds its state out of time order, for speed: it must be a replay's state."""
    from bench import bench_day_crossing as dc
    from streams.core.engine import Engine
    from streams.core.targets import load_profile

    start_ms = dc.MIDNIGHT_MS - dc.HALF_MINUTE_MS
    deadlines = dc.alert_sellers(4, start_ms)
    engines = []
    for in_time_order in (False, True):
        engine = Engine(load_profile("amazon-us"))
        dc.build(engine, 300, 3, 30, deadlines, start_ms, seed=3, in_time_order=in_time_order)
        engines.append(engine)
    fast, replay = engines
    assert fast.open_objects() == replay.open_objects() > 300
    assert set(fast.sellers) == set(replay.sellers)
    assert all(fast.rates(s) == replay.rates(s) for s in replay.sellers)
    assert any(n for s in replay.sellers for n, _ in replay.rates(s).values())  # some late
    stream = dc.minute_stream(300, 100.0, start_ms, seed=3)
    alerts = [[a.alert_id for t, e in stream for a in engine.apply(e, t)] for engine in engines]
    assert alerts[0] == alerts[1]
    assert len(alerts[0]) >= len(deadlines)  # the alert sellers' breaches, at least
