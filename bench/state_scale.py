"""State of the engine alone, in-process: resident memory and object bytes per seller.

    python bench/state_scale.py EVENTS.ndjson        # prints one JSON object

Applies a time-ordered event file (the simulator's output is) to one Engine, streaming,
and reports the process's RSS before and after, the deep size of the sellers' state, the
number of sellers and of open objects. Run in a fresh process so the RSS is the engine's.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_engine import deep_size  # noqa: E402

from streams.cli import GC_THRESHOLDS  # noqa: E402
from streams.core.engine import Engine  # noqa: E402
from streams.core.events import decode_event, event_time_ms  # noqa: E402
from streams.core.targets import load_profile  # noqa: E402


def rss_bytes() -> int:
    """Resident set size of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(path: Path) -> dict[str, float | int]:
    """Apply the file; memory and sizes."""
    gc.set_threshold(*GC_THRESHOLDS)
    engine = Engine(load_profile("amazon-us"))
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    n = 0
    apply = engine.apply
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                event = decode_event(line)
                apply(event, event_time_ms(event))
                n += 1
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    sellers = len(engine.sellers)
    state = deep_size(engine.sellers)
    return {
        "events": n,
        "sellers": sellers,
        "open_objects": engine.open_objects(),
        "apply_events_per_s": n / seconds if seconds else 0.0,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "rss_delta_bytes": after - before,
        "rss_bytes_per_seller": (after - before) / max(1, sellers),
        "deep_size_bytes": state,
        "deep_size_bytes_per_seller": state / max(1, sellers),
    }


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]))))
