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
