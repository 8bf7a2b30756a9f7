"""Engine benchmark: decode+validate, apply, end to end, and bytes of state, on one core.

    python bench/bench_engine.py                 # 1,000,000 events (cached under bench/.data)
    python bench/bench_engine.py --events 20000  # a smoke run

Prints a table and writes it as JSON (bench/results/engine.json by default).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.cli import GC_THRESHOLDS  # noqa: E402
from streams.core.engine import Engine  # noqa: E402
from streams.core.events import decode_event, event_time_ms  # noqa: E402
from streams.core.targets import load_profile  # noqa: E402
from streams.core.window import SellerState  # noqa: E402
from streams.offline.replay import iter_lines, replay_lines  # noqa: E402
from streams.offline.report import table  # noqa: E402
from streams.offline.simulate import SimulationConfig, write_ndjson  # noqa: E402

ORDERS_PER_SELLER_DAY = 8.0
DAYS = 90
EVENTS_PER_SELLER = 3150  # about what one seller makes in 90 days at 8 orders a day


def event_log(events: int, data_dir: Path) -> Path:
    """A cached synthetic log of about `events` events."""
    sellers = max(2, round(events / EVENTS_PER_SELLER))
    path = data_dir / f"log-{sellers}s-{DAYS}d.ndjson"
    if not path.exists():
        write_ndjson(SimulationConfig(seed=11, sellers=sellers, days=DAYS,
                                      orders_per_seller_day=ORDERS_PER_SELLER_DAY), path)
    return path


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds and result of fn, with the collector quiet."""
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of an object graph, each object once (slots, dicts, lists, tuples, ints, strs)."""
    seen = set() if seen is None else seen
    stack = [obj]
    total = 0
    while stack:
        o = stack.pop()
        if id(o) in seen or o is None or isinstance(o, bool):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple | set):
            stack.extend(o)
        elif hasattr(o, "__slots__"):
            for cls in type(o).__mro__:
                for name in getattr(cls, "__slots__", ()):
                    stack.append(getattr(o, name, None))
    return total


def run(events: int, data_dir: Path) -> dict[str, Any]:
    """All measurements (with the garbage collector tuned as the sellerperf command does)."""
    gc.set_threshold(*GC_THRESHOLDS)
    profile = load_profile("amazon-us")
    path = event_log(events, data_dir)
    lines = [line for line in path.read_bytes().splitlines() if line]
    n = len(lines)

    t_decode, decoded = timed(lambda: [decode_event(line) for line in lines])
    stamped = sorted(((event_time_ms(e), e.event_id, e) for e in decoded),
                     key=lambda x: (x[0], x[1]))

    def apply_all() -> Engine:
        engine = Engine(profile)
        apply = engine.apply
        for t, _, event in stamped:
            apply(event, t)
        return engine

    t_apply, _ = timed(apply_all)
    stamped.clear()
    decoded.clear()

    def end_to_end() -> Any:
        with path.open("rb") as f:
            return replay_lines(iter_lines(f), profile)

    t_e2e, result = timed(end_to_end)
    engine = result.partitions[0].engine
    sellers: dict[str, SellerState] = engine.sellers
    open_objects = engine.open_objects()
    state_bytes = deep_size(sellers)
    facts_bytes = sum(deep_size(s.orders) + deep_size(s.messages) + deep_size(s.returns)
                      for s in sellers.values())

    sample = lines[: min(20_000, n)]
    t_js, js_count = _jsonschema_rate(sample)
    return {
        "machine": f"{platform.machine()} {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "events": n,
        "sellers": len(sellers),
        "alerts": len(result.alerts),
        "decode_validate_events_per_s": n / t_decode,
        "apply_events_per_s": n / t_apply,
        "end_to_end_events_per_s": n / t_e2e,
        "jsonschema_validate_events_per_s": js_count / t_js if t_js else None,
        "state_bytes": state_bytes,
        "state_bytes_per_seller": state_bytes / max(1, len(sellers)),
        "open_objects": open_objects,
        "facts_bytes_per_open_object": facts_bytes / max(1, open_objects),
    }


def _jsonschema_rate(sample: list[bytes]) -> tuple[float, int]:
    """The alternative we did not take: orjson + jsonschema against schemas/event.json."""
    schema_path = ROOT / "schemas" / "event.json"
    try:
        import jsonschema
    except ImportError:
        return 0.0, 0
    if not schema_path.exists():
        return 0.0, 0
    validator = jsonschema.Draft202012Validator(json.loads(schema_path.read_text()))
    t, _ = timed(lambda: [validator.is_valid(orjson.loads(line)) for line in sample])
    return t, len(sample)


def main() -> int:
    """Parse arguments, run, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench" / ".data")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "engine.json")
    args = parser.parse_args()
    r = run(args.events, args.data_dir)
    rows = [
        ("decode + validate (msgspec)", f"{r['decode_validate_events_per_s']:,.0f} events/s"),
        ("apply (engine alone, sorted input)", f"{r['apply_events_per_s']:,.0f} events/s"),
        ("end to end (file -> alerts, one core)", f"{r['end_to_end_events_per_s']:,.0f} events/s"),
        ("for comparison: orjson + jsonschema",
         f"{r['jsonschema_validate_events_per_s']:,.0f} events/s"
         if r["jsonschema_validate_events_per_s"] else "n/a"),
        ("state per seller", f"{r['state_bytes_per_seller']:,.0f} bytes"),
        ("facts per open object", f"{r['facts_bytes_per_open_object']:,.0f} bytes"),
    ]
    print(f"{r['events']:,} events, {r['sellers']:,} sellers, {r['open_objects']:,} open "
          f"objects, {r['alerts']:,} alerts; {r['machine']}")
    print(table(("measure", "result"), rows, right="result"))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(r, indent=2) + "\n")
    print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
