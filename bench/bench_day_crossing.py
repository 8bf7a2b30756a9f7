"""Day-crossing benchmark: what the first event of a new UTC day costs the engine alone.

    python bench/bench_day_crossing.py                          # 1,000,000 sellers
    python bench/bench_day_crossing.py --sellers 100000,300000  # several sizes, one process each
    python bench/bench_day_crossing.py --quick                  # 2,000 sellers (the smoke test)

No Kafka. An Engine is given N sellers, each with a few orders over the last days (placed,
shipped, first scan, delivered: what is done by the clock), plus a few "alert sellers" with
60 orders shipped on time and 4 due to ship during the minute around midnight. Then a
steady stream of events with event times from 23:59:30 to 00:00:30 goes through
`Engine.apply`, one event at a time, each timed: new orders and shipments of random held
sellers. Reported:

1. the crossing: the processing time of the first event of the new day (today every held
   seller's windows move then), in ms and per seller held;
2. the per-event processing time in that minute, p50 / p99 / max;
3. the latency an event and an alert would see if the events arrived at the stream's rate
   (event time = arrival time, one core): each event waits for the ones before it, so a
   stall delays everything behind it. An alert's latency is from its deadline (the alert
   sellers' late shipments) to the end of the event that raised it.

The state is built fast: each seller's events are applied one seller after the other, with
the clock already at 23:59:30. Facts fold in any order and contributions are judged on the
clock, so the state is the one a replay in time order makes (tests/test_bench_smoke.py
checks it on a small N). Prints a table and writes JSON (bench/results/day-crossing.json).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.cli import GC_THRESHOLDS  # noqa: E402
from streams.core.clock import DAY_MS, HOUR_MS  # noqa: E402
from streams.core.engine import Engine  # noqa: E402
from streams.core.events import (  # noqa: E402
    AnyEvent,
    Delivered,
    OrderPlaced,
    ShipmentConfirmed,
    TrackingValidated,
)
from streams.core.targets import load_profile  # noqa: E402
from streams.offline.report import table  # noqa: E402

PROFILE: Final = "amazon-us"
_DAY: Final = 20_514
"""2026-03-02, a Monday."""


def _midnight_ms() -> int:
    """The first ms of 2026-03-02 in the profile's calendar: the day boundary crossed
    (amazon-us counts days in US Pacific time: 08:00 UTC; a profile on UTC days: 00:00)."""
    starts = {e.calendar.start_ms(_DAY) for e in load_profile(PROFILE).entries
              if hasattr(e, "calendar")}
    return min(starts) if starts else _DAY * DAY_MS


MIDNIGHT_MS: Final = _midnight_ms()
HALF_MINUTE_MS: Final = 30_000
LATE_ORDERS: Final = 4
"""Orders of an alert seller due to ship in the minute and never shipped."""
ON_TIME_ORDERS: Final = 60
"""Orders of an alert seller shipped on time (4 late of 64 = 6.25 %, over the 4 % target)."""

Stamped = tuple[int, AnyEvent]
"""(event time in ms, event)."""


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _placed(seller: str, order: str, t: int, ship_by: int) -> Stamped:
    return t, OrderPlaced(event_id=f"{seller}-{order}-p", event_time=_dt(t), seller_id=seller,
                          order_id=order, marketplace="US", channel="seller",
                          expected_ship_at=_dt(ship_by),
                          promised_delivery_at=_dt(ship_by + 4 * DAY_MS), units=1)


def _shipped(seller: str, order: str, t: int) -> Stamped:
    return t, ShipmentConfirmed(event_id=f"{seller}-{order}-s", event_time=_dt(t),
                                seller_id=seller, order_id=order, carrier="UPS",
                                tracking_number=f"1Z{order}")


def seller_events(seller: str, rng: random.Random, orders: int, spread_days: int,
                  now_ms: int) -> Iterator[Stamped]:
    """A seller's orders, placed over the last `spread_days`, and what followed up to now."""
    for k in range(orders):
        order = f"o{k}"
        placed = now_ms - rng.randrange(HOUR_MS, spread_days * DAY_MS)
        ship_by = placed + DAY_MS
        yield _placed(seller, order, placed, ship_by)
        shipped = placed + rng.randrange(2 * HOUR_MS, 30 * HOUR_MS)  # about one in five late
        if shipped > now_ms:
            continue
        yield _shipped(seller, order, shipped)
        scanned = shipped + 6 * HOUR_MS
        if scanned > now_ms:
            continue
        yield scanned, TrackingValidated(event_id=f"{seller}-{order}-t",
                                         event_time=_dt(scanned), seller_id=seller,
                                         order_id=order)
        delivered = shipped + rng.randrange(DAY_MS, 5 * DAY_MS)
        if delivered <= now_ms:
            yield delivered, Delivered(event_id=f"{seller}-{order}-d", event_time=_dt(delivered),
                                       seller_id=seller, order_id=order)


def alert_seller_events(seller: str, deadline_ms: int, now_ms: int) -> Iterator[Stamped]:
    """60 orders shipped on time 2 to 5 days ago (the 10-day late shipment rate is `ok`) and
    4 due to ship at `deadline_ms`, never shipped: `breach` once the clock passes it."""
    for k in range(ON_TIME_ORDERS):
        placed = now_ms - 5 * DAY_MS + k * (3 * DAY_MS // ON_TIME_ORDERS)
        yield _placed(seller, f"o{k}", placed, placed + DAY_MS)
        yield _shipped(seller, f"o{k}", placed + 2 * HOUR_MS)
    for k in range(LATE_ORDERS):
        yield _placed(seller, f"late{k}", deadline_ms - DAY_MS, deadline_ms)


def alert_sellers(count: int, start_ms: int) -> dict[str, int]:
    """Alert seller id -> its deadline, spread evenly over the minute."""
    step = 2 * HALF_MINUTE_MS // max(1, count)
    return {f"A{i:04d}": start_ms + step // 2 + i * step for i in range(count)}


def background_ids(sellers: int) -> list[str]:
    return [f"S{i:07d}" for i in range(sellers)]


def build(engine: Engine, sellers: int, orders: int, spread_days: int, deadlines: dict[str, int],
          start_ms: int, seed: int, *, in_time_order: bool = False) -> int:
    """Give the engine its sellers; the number of events applied.

    By default seller after seller with the clock already at `start_ms` (fast: no day is
    crossed); `in_time_order` sorts every event first, as a replay would apply them.
    """
    rng = random.Random(seed)
    streams = [seller_events(s, rng, orders, spread_days, start_ms)
               for s in background_ids(sellers)]
    streams += [alert_seller_events(s, d, start_ms) for s, d in deadlines.items()]
    applied = 0
    apply = engine.apply
    if in_time_order:
        every = sorted((x for events in streams for x in events),
                       key=lambda x: (x[0], x[1].event_id))
        for t, event in every:
            apply(event, t)
        engine.advance(start_ms)
        return len(every)
    engine.advance(start_ms)
    for events in streams:
        for t, event in events:
            apply(event, t)
            applied += 1
    return applied


def minute_stream(sellers: int, rate: float, start_ms: int, seed: int) -> list[Stamped]:
    """Events at `rate` per second from `start_ms` for a minute: a new order of a random held
    seller, then its shipment, and so on."""
    rng = random.Random(seed + 1)
    ids = background_ids(sellers)
    n = int(rate * 2 * HALF_MINUTE_MS / 1000)
    out: list[Stamped] = []
    seller = ids[0]
    for i in range(n):
        t = start_ms + i * 2 * HALF_MINUTE_MS // n
        if i % 2 == 0:
            seller = rng.choice(ids)
            out.append(_placed(seller, f"x{i}", t, t + DAY_MS))
        else:
            out.append(_shipped(seller, f"x{i - 1}", t))
    return out


def percentiles(values_ms: list[float]) -> dict[str, float | None]:
    """p50, p99 and max (nearest rank), None when empty."""
    if not values_ms:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    s = sorted(values_ms)
    rank = lambda q: s[min(len(s) - 1, max(0, int(q / 100 * len(s) + 0.5) - 1))]  # noqa: E731
    return {"p50_ms": rank(50), "p99_ms": rank(99), "max_ms": s[-1]}


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(sellers: int, *, orders: int, spread_days: int, alerting: int, rate: float,
            seed: int, settle_day: bool = False) -> dict[str, Any]:
    """Build the engine, stream the minute around midnight through it, time every event."""
    gc.set_threshold(*GC_THRESHOLDS)
    start_ms = MIDNIGHT_MS - HALF_MINUTE_MS
    engine = Engine(load_profile(PROFILE))
    deadlines = alert_sellers(alerting, start_ms)
    rss_before = rss_bytes()
    gc.disable()  # building allocates millions of long-lived objects: no point scanning them
    started = time.perf_counter()
    if settle_day:
        # Built a day early, then one day crossed before the minute: retention drops what
        # the history left past its expiry then, not at the midnight measured.
        built = build(engine, sellers, orders, spread_days, deadlines, start_ms - DAY_MS, seed)
        engine.advance(start_ms)
    else:
        built = build(engine, sellers, orders, spread_days, deadlines, start_ms, seed)
    build_s = time.perf_counter() - started
    gc.enable()
    gc.collect()
    held = len(engine.sellers)
    open_objects = engine.open_objects()
    rss_built = rss_bytes()
    stream = minute_stream(sellers, rate, start_ms, seed)

    apply = engine.apply
    clock, cpu = time.perf_counter_ns, time.thread_time_ns
    service_ns: list[int] = []
    cpu_ns: list[int] = []
    raised: list[tuple[int, list[Any]]] = []
    collections = sum(s["collections"] for s in gc.get_stats())
    load_before = [round(x, 2) for x in os.getloadavg()]
    for i, (t, event) in enumerate(stream):
        c0, t0 = cpu(), clock()
        alerts = apply(event, t)
        service_ns.append(clock() - t0)
        cpu_ns.append(cpu() - c0)
        if alerts:
            raised.append((i, alerts))
    collections = sum(s["collections"] for s in gc.get_stats()) - collections

    crossing = next(i for i, (t, _) in enumerate(stream) if t >= MIDNIGHT_MS)
    service_ms = [ns / 1e6 for ns in service_ns]
    # Arrivals at event time (the stream is live): each event waits for those before it.
    done_ms = 0.0
    finished: list[float] = []
    waited: list[float] = []
    for (t, _), s in zip(stream, service_ms, strict=True):
        arrival = float(t - start_ms)
        done_ms = max(done_ms, arrival) + s
        finished.append(done_ms)
        waited.append(done_ms - arrival)
    breach = [(i, a) for i, alerts in raised for a in alerts
              if a.seller_id in deadlines and a.status == "breach"]
    alert_ms = [finished[i] - (deadlines[a.seller_id] - start_ms) for i, a in breach]
    others = sum(len(alerts) for _, alerts in raised) - len(breach)
    crossing_ms = service_ms[crossing]
    return {
        "sellers": sellers,
        "alert_sellers": alerting,
        "orders_per_seller": orders,
        "spread_days": spread_days,
        "sellers_held": held,
        "open_objects": open_objects,
        "build_events": built,
        "build_s": build_s,
        "rss_bytes": rss_built,
        "state_rss_bytes": rss_built - rss_before,
        "stream_events": len(stream),
        "stream_events_per_s": rate,
        "midnight": _dt(MIDNIGHT_MS).isoformat(),
        "crossing_ms": crossing_ms,
        "crossing_us_per_seller_held": 1000 * crossing_ms / max(1, held),
        "crossing_cpu_ms": cpu_ns[crossing] / 1e6,
        "crossing_cpu_us_per_seller_held": cpu_ns[crossing] / 1e3 / max(1, held),
        "processing_cpu": percentiles([ns / 1e6 for ns in cpu_ns]),
        "crossing_event_index": crossing,
        "processing": percentiles(service_ms),
        "processing_without_crossing": percentiles(
            service_ms[:crossing] + service_ms[crossing + 1:]),
        "queued_latency": percentiles(waited),
        "events_delayed_over_100_ms": sum(1 for w in waited if w > 100),
        "breach_alerts": len(breach),
        "breach_alerts_expected": alerting,
        "alert_latency": percentiles(alert_ms),
        "other_alerts": others,
        "gc_collections_in_minute": collections,
        "load_before": load_before,
    }


def _git_head() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True)
    return done.stdout.strip()


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.1f}" if v >= 10 else f"{v:,.3f}"


def rows(runs: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per size."""
    out = []
    for r in runs:
        p, q, a = r["processing"], r["queued_latency"], r["alert_latency"]
        out.append((f"{r['sellers_held']:,}", f"{r['rss_bytes'] / 2**20:,.0f}",
                    _ms(r["crossing_ms"]), _ms(r["crossing_cpu_ms"]),
                    f"{r['crossing_cpu_us_per_seller_held']:.2f}",
                    _ms(p["p50_ms"]), _ms(p["p99_ms"]), _ms(p["max_ms"]), _ms(q["p99_ms"]),
                    f"{r['breach_alerts']}/{r['breach_alerts_expected']}", _ms(a["p99_ms"]),
                    _ms(a["max_ms"])))
    return out


HEADERS: Final = ("sellers", "RSS MiB", "crossing ms", "crossing CPU ms", "CPU per-seller us",
                  "event p50 ms",
                  "event p99 ms", "event max ms", "queued p99 ms", "alerts", "alert p99 ms",
                  "alert max ms")


LEGEND: Final = (
    "crossing: wall time of the first event of the day (CPU: the thread's own time, less "
    "sensitive to the machine's load), and that per seller held; event: Engine.apply wall time "
    "per event in the minute (the crossing is its max); queued: arrivals at event time, "
    "waiting included; alerts: breach alerts raised / due in the minute, latency from the "
    "deadline to the end of the event that raised it.")


def render(result: dict[str, Any]) -> str:
    """The table of a result, its legend and the load averages the runs started under."""
    runs = result["runs"]
    rate = runs[0]["stream_events_per_s"] if runs else 0
    loads = " / ".join("/".join(f"{x:.2f}" for x in r["load_before"]) for r in runs)
    return (f"{result['machine']}; code {result['git']}; the minute around "
            f"{result['midnight']} at {rate:,.0f} events/s\n"
            + table(HEADERS, rows(runs), right=",".join(HEADERS)) + "\n"
            + textwrap.fill(f"{LEGEND} Load average (1/5/15 min) before each: {loads}.",
                            width=100))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sellers", default="1000000",
                   help="sellers held, comma separated for several sizes (each in a process "
                        "of its own) [%(default)s]")
    p.add_argument("--quick", action="store_true",
                   help="2,000 sellers, 10 alert sellers, 200 events/s (the smoke test)")
    p.add_argument("--orders", type=int, default=3, help="orders per seller [%(default)s]")
    p.add_argument("--spread-days", type=int, default=30,
                   help="orders placed over this many days before midnight [%(default)s]")
    p.add_argument("--alert-sellers", type=int, default=60,
                   help="sellers whose late shipment deadline falls in the minute [%(default)s]")
    p.add_argument("--rate", type=float, default=1000.0,
                   help="events per second of the stream through the minute [%(default)s]")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--settle-day", action="store_true",
                   help="build a day early and cross one day before the minute (retention of "
                        "a long history then happens before the midnight measured)")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "day-crossing.json")
    p.add_argument("--render", type=Path, default=None,
                   help="print the table of a saved result file and exit (no measuring)")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.render:
        print(render(json.loads(args.render.read_text())))
        return 0
    if args.quick:
        args.sellers, args.alert_sellers, args.rate = "2000", 10, 200.0
    try:
        sizes = [int(x) for x in args.sellers.split(",")]
    except ValueError:
        p.error(f"--sellers: {args.sellers!r} is not a comma-separated list of numbers")
    if any(n < 1 for n in sizes) or args.orders < 1 or args.spread_days < 2 or args.rate <= 0:
        p.error("--sellers, --orders, --rate must be positive and --spread-days at least 2")
    kw = {"orders": args.orders, "spread_days": args.spread_days,
          "alerting": args.alert_sellers, "rate": args.rate, "seed": args.seed,
          "settle_day": args.settle_day}
    if args.one:
        print(json.dumps(measure(sizes[0], **kw)))
        return 0
    runs = []
    for n in sizes:
        print(f"[day-crossing] {n:,} sellers ...", file=sys.stderr, flush=True)
        if len(sizes) == 1:
            runs.append(measure(n, **kw))
            continue
        child = [sys.executable, __file__, "--one", "--sellers", str(n)]
        for flag, value in (("--orders", args.orders), ("--spread-days", args.spread_days),
                            ("--alert-sellers", args.alert_sellers), ("--rate", args.rate),
                            ("--seed", args.seed)):
            child += [flag, str(value)]
        if args.settle_day:
            child.append("--settle-day")
        done = subprocess.run(child, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    result = {
        "machine": f"{platform.machine()} {platform.python_implementation()} "
                   f"{platform.python_version()}, {os.cpu_count()} cores",
        "git": _git_head(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "midnight": _dt(MIDNIGHT_MS).isoformat(),
        "runs": runs,
    }
    print(render(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
