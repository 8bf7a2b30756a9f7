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
