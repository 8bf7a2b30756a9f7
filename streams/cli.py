"""The `sellerperf` command: demo, replay, simulate, backtest, schemas."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO, Final

import msgspec
import orjson
from tqdm import tqdm

from streams.core.outputs import SellerSnapshot
from streams.core.targets import DEFAULT_PROFILE, load_profile
from streams.errors import SellerPerfError
from streams.kafka.runtime import encode_json
from streams.offline import report
from streams.offline.replay import DEFAULT_LATENESS_MS, ReplayResult, iter_lines, replay_lines
from streams.offline.simulate import SimulationConfig, generate, iter_ndjson

GC_THRESHOLDS: Final = (100_000, 50, 100)
"""Garbage collector thresholds of the sellerperf processes (gc.set_threshold)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    # The engine keeps millions of long-lived objects and makes few cycles: CPython's
    # default thresholds (a young collection every 700 allocations) cost ~10 % of the
    # engine's time (README, "Performance").
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        return int(args.run(args))
    except SellerPerfError as exc:
        print(f"sellerperf: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sellerperf", description="Real-time seller performance metrics and alerts."
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="simulate a marketplace and show who slipped")
    _sim_args(demo, sellers=120)
    _engine_args(demo)
    demo.set_defaults(run=cmd_demo)

    rep = sub.add_parser("replay", help="replay an NDJSON event file through the engine")
    rep.add_argument("events", type=Path, help="NDJSON file, one event per line ('-': stdin)")
    rep.add_argument("--alerts", type=Path, default=Path("out/alerts.ndjson"),
                     help="where to write alerts (NDJSON) [%(default)s]")
    rep.add_argument("--metrics", type=Path, default=Path("out/metrics.json"),
                     help="where to write final per-seller rates (JSON) [%(default)s]")
    rep.add_argument("--dead-letters", type=Path, default=Path("out/dead-letters.ndjson"),
                     help="where to write lines that could not be used [%(default)s]")
    rep.add_argument("--no-flush", action="store_true",
                     help="leave events within the lateness of the end unapplied, as a live "
                          "worker would")
    _engine_args(rep)
    rep.set_defaults(run=cmd_replay)

    sim = sub.add_parser("simulate", help="write a synthetic event stream as NDJSON")
    _sim_args(sim, sellers=200)
    sim.add_argument("--out", type=Path, default=Path("-"), help="file, or - for stdout")
    sim.add_argument("--to", choices=["file", "kafka"], default="file",
                     help="write to --out, or produce to the input topics")
    sim.add_argument("--rate", type=float, default=None,
                     help="with --to kafka: events per second (default: as fast as possible)")
    sim.set_defaults(run=cmd_simulate)

    back = sub.add_parser("backtest", help="compare seller statuses under another profile")
    back.add_argument("events", type=Path, help="NDJSON event file")
    back.add_argument("--targets", required=True, help="proposed profile (name or path)")
    _engine_args(back)
    back.set_defaults(run=cmd_backtest)

    worker = sub.add_parser("worker", help="run the Kafka worker (settings from the environment)")
    worker.set_defaults(run=cmd_worker)

    topics = sub.add_parser("topics", help="manage the Kafka topics")
    topics.add_argument("action", choices=["create"], help="create the missing topics")
    topics.set_defaults(run=cmd_topics)

    schemas = sub.add_parser("schemas", help="write (or --check) the JSON Schemas")
    schemas.add_argument("--check", action="store_true", help="exit 1 if schemas/ is stale")
    schemas.add_argument("--root", type=Path, default=Path("schemas"))
    schemas.set_defaults(run=cmd_schemas)
    return parser


def _sim_args(p: argparse.ArgumentParser, sellers: int) -> None:
    p.add_argument("--sellers", type=int, default=sellers, help="number of sellers")
    p.add_argument("--days", type=int, default=90, help="days of activity")
    p.add_argument("--orders-per-day", type=float, default=8.0,
                   help="mean orders per seller and day")
    p.add_argument("--seed", type=int, default=7, help="random seed")
    p.add_argument("--disorder-ms", type=int, default=0,
                   help="deliver events up to this late relative to their event time")


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help="target profile: a name in deploy/targets or a path [%(default)s]")
    p.add_argument("--lateness-ms", type=int, default=DEFAULT_LATENESS_MS,
                   help="allowed lateness of events in event time [%(default)s]")
    p.add_argument("--partitions", type=int, default=1,
                   help="split sellers as Kafka would over this many partitions [%(default)s]")


def _sim_config(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(seed=args.seed, sellers=args.sellers, days=args.days,
                            orders_per_seller_day=args.orders_per_day,
                            disorder_ms=args.disorder_ms)


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulate, process in-process, print who is at risk or in breach."""
    config = _sim_config(args)
    profile = load_profile(args.profile)
    print(f"Simulating {config.sellers} sellers over {config.days} days "
          f"(seed {config.seed}), judged by the {profile.name} profile ...", file=sys.stderr)
    lines = ((n, orjson.dumps(e)) for n, e in enumerate(
        tqdm(generate(config), desc="events", unit=" ev", unit_scale=True, leave=False,
             disable=None, mininterval=0.5), 1))
    result = replay_lines(lines, profile, args.lateness_ms, args.partitions, source="demo")
    snaps = result.snapshots()
    print()
    print("Sellers at risk or in breach at the end of the period")
    print(report.sellers_table(snaps))
    print()
    print("Alerts raised")
    print(report.alerts_table(result.alerts))
    print()
    _summary(result, snaps)
    from streams.offline.simulate import degraded_sellers

    degraded = degraded_sellers(config)
    caught = {a.seller_id for a in result.alerts if a.status == "breach"}
    print(f"Degrading sellers planted by the simulator: {len(degraded)}, of which in breach "
          f"at some point: {len(caught & set(degraded))} "
          f"({', '.join(f'{s} {m}' for s, (m, _) in sorted(degraded.items()))})")
    return 0


def _summary(result: ReplayResult, snaps: list[SellerSnapshot]) -> None:
    breaches = sum(1 for a in result.alerts if a.status == "breach")
    print(report.table(
        ("events", "invalid", "too late", "held back", "alerts", "breach alerts", "wall time",
         "throughput"),
        [(f"{result.events_total:,}", len(result.dead_letters) - result.too_late_total,
          result.too_late_total, result.pending_total, len(result.alerts), breaches,
          f"{result.seconds:.1f} s", report.rate(result.events_total, result.seconds))],
        right="events,invalid,too late,held back,alerts,breach alerts,wall time,throughput",
    ))
    print(f"Account health: {report.health_counts(snaps)}")


def _open_events(path: Path, stack: ExitStack) -> tuple[BinaryIO, int | None]:
    if str(path) == "-":
        return sys.stdin.buffer, None
    if not path.exists():
        raise SellerPerfError(f"no such event file: {path}")
    return stack.enter_context(path.open("rb")), path.stat().st_size


def _progress_lines(path: Path, stack: ExitStack) -> Iterator[tuple[int, bytes]]:
    stream, size = _open_events(path, stack)
    bar = stack.enter_context(tqdm(total=size, unit="B", unit_scale=True, desc=path.name,
                                   disable=None, leave=False, mininterval=0.5))
    return iter_lines(stream, bar.update)


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a file; write alerts, final metrics and dead letters; print a summary."""
    profile = load_profile(args.profile)
    with ExitStack() as stack:
        lines = _progress_lines(args.events, stack)
        result = replay_lines(lines, profile, args.lateness_ms, args.partitions,
                              flush=not args.no_flush, source=str(args.events))
    snaps = result.snapshots()
    for path in (args.alerts, args.metrics, args.dead_letters):
        path.parent.mkdir(parents=True, exist_ok=True)
    args.alerts.write_bytes(b"".join(encode_json(a) + b"\n" for a in result.alerts))
    args.metrics.write_bytes(msgspec.json.format(encode_json(snaps), indent=2))
    args.dead_letters.write_bytes(
        b"".join(encode_json(d) + b"\n" for d in result.dead_letters))
    for d in result.dead_letters[:20]:
        print(f"{d.source}:{d.offset}: {d.reason}: {d.error}", file=sys.stderr)
    if len(result.dead_letters) > 20:
        print(f"... {len(result.dead_letters) - 20} more in {args.dead_letters}", file=sys.stderr)
    _summary(result, snaps)
    print(f"Wrote {len(result.alerts)} alerts to {args.alerts}, {len(snaps)} sellers to "
          f"{args.metrics}, {len(result.dead_letters)} dead letters to {args.dead_letters}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write the synthetic stream."""
    config = _sim_config(args)
    if args.to == "kafka":
        return _simulate_to_kafka(config, args.rate)
    count = 0
    with ExitStack() as stack:
        out: BinaryIO = (sys.stdout.buffer if str(args.out) == "-"
                         else stack.enter_context(args.out.open("wb")))
        bar = stack.enter_context(tqdm(desc="events", unit=" ev", unit_scale=True, disable=None,
                                       leave=False, mininterval=0.5))
        for line in iter_ndjson(config):
            out.write(line)
            count += 1
            if count % 4096 == 0:
                bar.update(4096)
    print(f"Wrote {count:,} events for {config.sellers} sellers over {config.days} days "
          f"to {args.out}", file=sys.stderr)
    return 0


def _simulate_to_kafka(config: SimulationConfig, rate: float | None) -> int:
    import asyncio
    import time

    from streams.core.clock import parse_time_ms
    from streams.kafka.client import in_step, produce, topic_for
    from streams.kafka.settings import Settings

    settings = Settings.from_env()
    records = ((topic_for(e["type"], settings), e["seller_id"].encode(), orjson.dumps(e),
                parse_time_ms(e["event_time"])) for e in generate(config))
    # History is produced far faster than it happened: keep the four topics within a third
    # of the allowed lateness of each other, or a worker reading meanwhile would see one
    # topic days ahead of another and dead-letter the other's events as too late.
    step_ms = max(1, settings.allowed_lateness_ms // 3)
    started = time.perf_counter()
    with tqdm(desc="produced", unit=" ev", unit_scale=True, disable=None, leave=False,
              mininterval=0.5) as bar:
        sent = asyncio.run(produce(settings, in_step(records, step_ms), rate, bar.update,
                                   linger_ms=2))
    seconds = time.perf_counter() - started
    print(f"Produced {sent:,} events for {config.sellers} sellers to {settings.bootstrap_servers}"
          f" in {seconds:.1f} s ({report.rate(sent, seconds)})", file=sys.stderr)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the Faust worker."""
    import sys as _sys

    from streams.kafka.settings import Settings
    from streams.kafka.worker import run_worker

    _sys.argv = [_sys.argv[0], "worker"]
    run_worker(Settings.from_env())
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    """Create the topics that are missing; say which already exist."""
    import asyncio

    from streams.kafka.client import create_topics
    from streams.kafka.settings import Settings

    settings = Settings.from_env()
    created, existing = asyncio.run(create_topics(settings))
    for name in created:
        print(f"created {name} ({settings.partitions} partitions)")
    for name in existing:
        print(f"exists  {name}")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """Replay once per profile and compare the sellers' final statuses."""
    current = load_profile(args.profile)
    proposed = load_profile(args.targets)
    results = []
    for profile in (current, proposed):
        with ExitStack() as stack:
            lines = _progress_lines(args.events, stack)
            results.append(replay_lines(lines, profile, args.lateness_ms, args.partitions,
                                        source=str(args.events)))
    before = {s.seller_id: s for s in results[0].snapshots()}
    after = {s.seller_id: s for s in results[1].snapshots()}
    rows = []
    for seller_id in sorted(before):
        a, b = before[seller_id], after.get(seller_id)
        if b is None or a.account_health == b.account_health:
            continue
        worst = [f"{r.metric} {report.pct(r.value)}" for r in b.rates if r.status == "breach"]
        rows.append((seller_id, report.paint(a.account_health), report.paint(b.account_health),
                     ", ".join(worst) or "-"))
    print(f"Current profile: {current.name}; proposed: {proposed.name}")
    print(report.table(("seller", current.name, proposed.name, "in breach under proposed"), rows))
    ever = [len({x.seller_id for x in r.alerts if x.status == "breach"}) for r in results]
    print()
    print(report.table(
        ("profile", "sellers", "healthy", "at risk", "critical", "ever in breach"),
        [(p.name, len(s), *(sum(1 for x in s.values() if x.account_health == h)
                            for h in ("healthy", "at_risk", "critical")), e)
         for p, s, e in ((current, before, ever[0]), (proposed, after, ever[1]))],
        right="sellers,healthy,at risk,critical,ever in breach",
    ))
    print(f"{len(rows)} of {len(before)} sellers would change account health.")
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    """Write or check the JSON Schemas generated from the event and output types."""
    from streams.offline import schemas

    if args.check:
        stale = schemas.check(args.root)
        for name in stale:
            print(f"stale: {name}", file=sys.stderr)
        return 1 if stale else 0
    for path in schemas.write(args.root):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
