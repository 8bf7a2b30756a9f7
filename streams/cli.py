"""The `sellerperf` command: demo, replay, simulate, backtest, worker, topics, schemas."""

from __future__ import annotations

import argparse
import ast
import gc
import inspect
import itertools
import logging
import math
import os
import re
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final, NoReturn

import msgspec
import orjson
from tqdm import tqdm

from streams.core.clock import DAY_MS, parse_time_ms
from streams.core.outputs import SellerSnapshot
from streams.core.targets import DEFAULT_PROFILE, DEMO_PROFILE, TargetProfile, load_profile
from streams.errors import SellerPerfError, UsageError
from streams.kafka.runtime import encode_json
from streams.offline import report
from streams.offline.replay import DEFAULT_LATENESS_MS, ReplayResult, iter_lines, replay_lines
from streams.offline.simulate import DEFAULT_START_MS, SimulationConfig, format_time_ms, generate

GC_THRESHOLDS: Final = (100_000, 50, 100)
"""Garbage collector thresholds of the sellerperf processes (gc.set_threshold)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a usage mistake, said in one line)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argument error (2, already said in one line)
        return exc.code if isinstance(exc.code, int) else 2
    # The engine keeps millions of long-lived objects and makes few cycles: CPython's
    # default thresholds (a young collection every 700 allocations) cost ~10 % of the
    # engine's time (README, "Performance").
    gc.set_threshold(*GC_THRESHOLDS)
    # aiokafka logs each failed connection attempt; the command says it once, in one line.
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    logging.getLogger("aiokafka").propagate = False
    prog = f"sellerperf {args.command}"
    try:
        return int(args.run(args))
    except SellerPerfError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`sellerperf simulate | head`): stop quietly, as `yes` would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # a path the user gave that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help (unless the help says it), epilogs as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "(default:" in text or action.nargs == 0 or action.required:  # flags: off
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Argument errors in one line on stderr (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= low, or an error saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"got {text!r}; expected an integer >= {low}")
        return value

    return parse


def _integer(text: str) -> int:
    """An argparse type: any integer, or an error saying so."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected an integer") from None


def _number_over(low: float, allow_equal: bool) -> Callable[[str], float]:
    """An argparse type: a finite number > low (>= low if allow_equal)."""
    expected = f"a number {'>=' if allow_equal else '>'} {low:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < low or (value == low and not allow_equal):
            raise argparse.ArgumentTypeError(f"got {text!r}; expected {expected}")
        return value

    return parse


_NOW_MINUS = re.compile(r"now-(\d+)d")
_LATEST_START = datetime(9000, 1, 1, tzinfo=UTC)


def parse_start(text: str, now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                ) -> int:
    """--start: `now`, `now-<N>d`, a date (midnight UTC) or a time with a UTC offset, in ms."""
    expected = ("expected now, now-<N>d, a date like 2026-01-05 or a time with a UTC offset "
                "like 2026-01-05T12:00:00Z")
    if text == "now":
        return now_ms()
    if m := _NOW_MINUS.fullmatch(text):
        if int(m[1]) > 36_500:
            raise argparse.ArgumentTypeError(f"got {text!r}; expected at most 36500 days back")
        return now_ms() - int(m[1]) * DAY_MS
    try:
        if "T" in text.upper() or " " in text:
            ms = parse_time_ms(text)
        else:
            ms = (date.fromisoformat(text) - date(1970, 1, 1)).days * DAY_MS
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; {expected}") from None
    if not 0 <= ms < _LATEST_START.timestamp() * 1000:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected a time from 1970 to 8999")
    return ms


KAFKA_SETTINGS_NOTE: Final = ("Kafka settings (KAFKA_BOOTSTRAP_SERVERS, topic names, security) "
                               "come from the environment: see `sellerperf worker --help`.")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sellerperf", formatter_class=_Formatter,
                     description="Real-time seller performance metrics and alerts.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")

    def command(name: str, run: Callable[[argparse.Namespace], int], summary: str,
                **kwargs: Any) -> argparse.ArgumentParser:
        # Descriptions and epilogs are printed as written (the worker's settings list is laid
        # out by hand): one-paragraph texts are wrapped here.
        for key in ("description", "epilog"):
            text = kwargs.get(key, summary if key == "description" else None)
            if text is not None:
                kwargs[key] = text if "\n" in text else textwrap.fill(text, 79)
        p = sub.add_parser(name, help=summary, formatter_class=_Formatter, **kwargs)
        p.set_defaults(run=run)
        return p

    demo = command("demo", cmd_demo, "simulate a marketplace and show who slipped")
    _sim_args(demo, sellers=120)
    _engine_args(demo)
    demo.set_defaults(profile=DEMO_PROFILE)  # two marketplaces, both channels (issue 17)

    rep = command("replay", cmd_replay, "replay an NDJSON event file through the engine")
    rep.add_argument("events", type=Path, help="NDJSON file, one event per line ('-': stdin)")
    rep.add_argument("--alerts", type=Path, default=Path("out/alerts.ndjson"),
                     help="where to write alerts (NDJSON; its folder is created)")
    rep.add_argument("--metrics", type=Path, default=Path("out/metrics.json"),
                     help="where to write final per-seller rates (JSON; its folder is created)")
    rep.add_argument("--dead-letters", type=Path, default=Path("out/dead-letters.ndjson"),
                     help="where to write lines that could not be used (NDJSON)")
    rep.add_argument("--no-flush", action="store_true",
                     help="leave events within the lateness of the end unapplied, as a live "
                          "worker would")
    _engine_args(rep)

    sim = command("simulate", cmd_simulate, "write a synthetic event stream as NDJSON",
                  epilog=KAFKA_SETTINGS_NOTE)
    _sim_args(sim, sellers=200)
    sim.add_argument("--out", type=Path, default=None,
                     help="with --to file: the file to write, - for stdout; its folder is "
                          "created (default: -)")
    sim.add_argument("--to", choices=["file", "kafka"], default="file",
                     help="write NDJSON to --out, or produce to the input topics (--out is "
                          "then refused)")
    sim.add_argument("--rate", type=_number_over(0, False), default=None,
                     help="with --to kafka: events per second (default: as fast as possible)")

    back = command("backtest", cmd_backtest,
                   "compare seller statuses under the current and a proposed profile",
                   description="Replay an event file twice, under the current profile "
                               "(--profile) and a proposed one (--targets), and list the "
                               "sellers whose account health would change.")
    back.add_argument("events", type=Path, help="NDJSON event file (read twice, so not stdin)")
    back.add_argument("--targets", required=True, metavar="PROFILE",
                      help="the proposed profile: a name in deploy/targets or a path "
                           "(required)")
    _engine_args(back, profile_help="the current profile: a name in deploy/targets or a path")

    command("worker", cmd_worker, "run the Kafka worker (settings from the environment)",
            epilog=_settings_epilog())

    topics = command("topics", cmd_topics, "manage the Kafka topics", epilog=KAFKA_SETTINGS_NOTE)
    topics.add_argument("action", choices=["create"], help="create: create the missing topics")

    schemas = command("schemas", cmd_schemas, "write (or --check) the JSON Schemas")
    schemas.add_argument("--check", action="store_true",
                         help="write nothing; exit 1 and list the files if the folder is stale")
    schemas.add_argument("--root", type=Path, default=Path("schemas"),
                         help="the folder of the JSON Schemas (events/, topics/, outputs/)")
    return parser


def _sim_args(p: argparse.ArgumentParser, sellers: int) -> None:
    p.add_argument("--sellers", type=_int_at_least(0), default=sellers, help="number of sellers")
    p.add_argument("--days", type=_int_at_least(1), default=90, help="days of activity")
    p.add_argument("--orders-per-day", type=_number_over(0, False), default=8.0,
                   help="mean orders per seller and day")
    p.add_argument("--seed", type=_integer, default=7, help="random seed")
    p.add_argument("--disorder-ms", type=_int_at_least(0), default=0,
                   help="deliver events up to this late relative to their event time")
    p.add_argument("--start", type=parse_start, default=DEFAULT_START_MS, metavar="WHEN",
                   help="first day of the simulated calendar: now, now-<N>d (N days ago), a "
                        "date (midnight UTC) or a time with a UTC offset (default: "
                        f"{format_time_ms(DEFAULT_START_MS)[:10]}, fixed so that runs repeat)")


def _engine_args(p: argparse.ArgumentParser, profile_help: str = "target profile: a name in "
                 "deploy/targets or a path") -> None:
    p.add_argument("--profile", default=DEFAULT_PROFILE, help=profile_help)
    p.add_argument("--lateness-ms", type=_int_at_least(0), default=DEFAULT_LATENESS_MS,
                   help="allowed lateness of events in event time")
    p.add_argument("--partitions", type=_int_at_least(1), default=1,
                   help="split sellers as Kafka would over this many partitions (one clock "
                        "for all: the rates and alerts do not depend on it)")
    p.add_argument("--max-future-skew-s", type=_int_at_least(0), default=300,
                   help="refuse (dead letter 'future') events more than this many seconds "
                        "ahead of the wall clock when the run starts")


def _settings_epilog() -> str:
    """The worker's settings, generated from the Settings dataclass and its field docstrings."""
    from streams.kafka.settings import PREFIX, Settings

    defaults = Settings()
    lines = ["settings, read from the environment at start-up:"]
    for name, doc in settings_docs().items():
        var = PREFIX + name.upper()
        if name == "bootstrap_servers":
            var = f"KAFKA_BOOTSTRAP_SERVERS or {var}"
        value = getattr(defaults, name)
        lines.append(f"  {var} (default: {str(value) if value != '' else '(empty)'})")
        lines += textwrap.wrap(doc, 88, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


def settings_docs() -> dict[str, str]:
    """Each Settings field and its docstring (the string literal after it), in field order."""
    from streams.kafka import settings

    tree = ast.parse(inspect.getsource(settings.Settings))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for stmt, nxt in itertools.pairwise(body):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)):
            docs[stmt.target.id] = " ".join(str(nxt.value.value).split())
    return {f.name: docs.get(f.name, "") for f in fields(settings.Settings)}


def _load_profile(value: str, option: str = "--profile") -> TargetProfile:
    """load_profile, with a folder or a file that is not text said in one line."""
    try:
        return load_profile(value)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{option} {value}: not UTF-8 text (byte {exc.start}); expected a "
                         f"TOML target profile") from None
    except IsADirectoryError:
        raise UsageError(f"{option} {value}: is a folder; expected a TOML target profile, or "
                         f"a name in deploy/targets") from None


def _sim_config(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(seed=args.seed, sellers=args.sellers, days=args.days,
                            orders_per_seller_day=args.orders_per_day,
                            disorder_ms=args.disorder_ms, start_ms=args.start)


def _day_bar(config: SimulationConfig, desc: str, stack: ExitStack) -> tqdm[Any]:
    """A bar of simulated days on stderr, shown on a terminal only (as replay's is)."""
    return stack.enter_context(tqdm(total=config.days, desc=desc, unit=" day", leave=False,
                                    disable=None, mininterval=0.5))


def _simulated(config: SimulationConfig, desc: str,
               stack: ExitStack) -> Iterator[dict[str, Any]]:
    return by_day(generate(config), config, _day_bar(config, desc, stack))


def by_day(events: Iterable[dict[str, Any]], config: SimulationConfig,
           bar: tqdm[Any]) -> Iterator[dict[str, Any]]:
    """The events, unchanged, moving `bar` to the simulated day they have reached (its end
    once they are all through)."""
    count = 0
    for count, event in enumerate(events, 1):
        yield event
        if count % 1024 == 0:
            day = (parse_time_ms(event["event_time"]) - config.start_ms) // DAY_MS
            if day > bar.n:
                bar.set_postfix_str(f"{count:,} events", refresh=False)
                bar.update(min(day, config.days) - bar.n)
    bar.set_postfix_str(f"{count:,} events", refresh=False)
    bar.update(config.days - bar.n)


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulate, process in-process, print who is at risk or in breach."""
    config = _sim_config(args)
    profile = _load_profile(args.profile)
    if config.sellers == 0:
        print("No sellers to simulate (--sellers 0), so nothing to judge: "
              "try --sellers 120 (the default).")
        return 0
    print(f"Simulating {config.sellers} sellers over {config.days} days "
          f"(seed {config.seed}), judged by the {profile.name} profile ...", file=sys.stderr)
    with ExitStack() as stack:
        lines = ((n, orjson.dumps(e))
                 for n, e in enumerate(_simulated(config, "simulated", stack), 1))
        result = replay_lines(lines, profile, args.lateness_ms, args.partitions, source="demo",
                              max_event_ms=_max_event_ms(args))
    snaps = result.snapshots()
    print()
    print("Sellers at risk or in breach at the end of the period")
    print(report.sellers_table(snaps, profile))
    print()
    print("Alerts raised")
    print(report.alerts_table(result.alerts, profile))
    print()
    _summary(result, snaps)
    from streams.offline.simulate import degraded_sellers

    degraded = degraded_sellers(config)
    caught = {a.seller_id for a in result.alerts if a.status == "breach"}
    if not degraded:
        print("Degrading sellers planted by the simulator: none (it plants one in about 33 "
              "sellers, and at least one from 10 sellers on).")
        return 0
    print(f"Degrading sellers planted by the simulator: {len(degraded)}, of which in breach "
          f"at some point: {len(caught & set(degraded))} "
          f"({', '.join(f'{s} {m}' for s, (m, _) in sorted(degraded.items()))})")
    return 0


def _max_event_ms(args: argparse.Namespace) -> int:
    """The newest event time a run accepts: the wall clock plus the allowed skew."""
    skew_s: int = args.max_future_skew_s
    return int(time.time() * 1000) + skew_s * 1000


def _summary(result: ReplayResult, snaps: list[SellerSnapshot]) -> None:
    breaches = sum(1 for a in result.alerts if a.status == "breach")
    invalid = len(result.dead_letters) - result.too_late_total - result.future_total
    print(report.table(
        ("events", "invalid", "future", "late (corrected)", "too late", "held back", "alerts",
         "breach alerts", "wall time", "throughput"),
        [(f"{result.events_total:,}", invalid, result.future_total, result.corrections_total,
          result.too_late_total, result.pending_total, len(result.alerts), breaches,
          f"{result.seconds:.1f} s", report.rate(result.events_total, result.seconds))],
        right="events,invalid,future,late (corrected),too late,held back,alerts,breach alerts,"
              "wall time,throughput",
    ))
    print(f"Account health: {report.health_counts(snaps)}")


def _check_events(path: Path) -> Path:
    """An event file path ('-': stdin) that can be opened, or a UsageError saying why not."""
    if str(path) != "-":
        if not path.exists():
            raise UsageError(f"no such event file: {path}; expected an NDJSON file, one event "
                             f"per line")
        if path.is_dir():
            raise UsageError(f"{path}: is a folder; expected an NDJSON event file")
    return path


def _open_events(path: Path, stack: ExitStack) -> tuple[BinaryIO, int | None]:
    if str(_check_events(path)) == "-":
        return sys.stdin.buffer, None
    return stack.enter_context(path.open("rb")), path.stat().st_size


def _progress_lines(path: Path, stack: ExitStack) -> Iterator[tuple[int, bytes]]:
    stream, size = _open_events(path, stack)
    bar = stack.enter_context(tqdm(total=size, unit="B", unit_scale=True, desc=path.name,
                                   disable=None, leave=False, mininterval=0.5))
    return iter_lines(stream, bar.update)


def _replay_file(path: Path, args: argparse.Namespace, profile: TargetProfile,
                 flush: bool = True) -> ReplayResult:
    """Replay an event file; an error if it holds no valid event at all."""
    with ExitStack() as stack:
        lines = _progress_lines(path, stack)
        result = replay_lines(lines, profile, args.lateness_ms, args.partitions,
                              flush=flush, source=str(path),
                              max_event_ms=_max_event_ms(args))
    if result.events_total == 0:
        if not result.dead_letters:
            raise UsageError(f"{path}: no events (nothing but blank lines); expected NDJSON, "
                             f"one event per line")
        first = result.dead_letters[0]
        raise UsageError(f"{path}: none of its {result.lines_total:,} lines is a valid event "
                         f"(line {first.offset}: {first.error}); expected NDJSON, one event "
                         f"per line")
    return result


def _output(path: Path, option: str) -> Path:
    """An output file path that can be written: checked before a long run, its folder made
    only when it is written (`_write`)."""
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; expected a file path")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: a file is in the way of its folder "
                         f"({folder}); expected a path in a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: {folder} is not writable; expected a path in a "
                         f"folder you can write to")
    return path


def _created(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write(path: Path, data: bytes) -> None:
    _created(path).write_bytes(data)


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a file; write alerts, final metrics and dead letters; print a summary."""
    _check_events(args.events)
    profile = _load_profile(args.profile)  # a bad profile is said before the file is read
    outputs = [_output(args.alerts, "--alerts"), _output(args.metrics, "--metrics"),
               _output(args.dead_letters, "--dead-letters")]
    result = _replay_file(args.events, args, profile, flush=not args.no_flush)
    snaps = result.snapshots()
    alerts, metrics, dead_letters = outputs
    _write(alerts, b"".join(encode_json(a) + b"\n" for a in result.alerts))
    _write(metrics, msgspec.json.format(encode_json(snaps), indent=2))
    _write(dead_letters, b"".join(encode_json(d) + b"\n" for d in result.dead_letters))
    for d in result.dead_letters[:20]:
        print(f"{d.source}:{d.offset}: {d.reason}: {d.error}", file=sys.stderr)
    if len(result.dead_letters) > 20:
        print(f"... {len(result.dead_letters) - 20} more in {dead_letters}", file=sys.stderr)
    _summary(result, snaps)
    print(f"Wrote {len(result.alerts)} alerts to {alerts}, {len(snaps)} sellers to "
          f"{metrics}, {len(result.dead_letters)} dead letters to {dead_letters}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write the synthetic stream."""
    config = _sim_config(args)
    if args.to == "kafka":
        if args.out is not None:
            raise UsageError(f"--out {args.out}: not used with --to kafka (events go to the "
                             f"input topics); expected --to file with --out, or no --out")
        return _simulate_to_kafka(config, args.rate)
    if args.rate is not None:
        raise UsageError(f"--rate {args.rate:g}: only used with --to kafka; expected "
                         f"--to kafka, or no --rate")
    target = Path("-") if args.out is None else args.out
    count = 0
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    with ExitStack() as stack:
        out: BinaryIO = (sys.stdout.buffer if str(target) == "-"
                         else stack.enter_context(_created(_output(target, "--out")).open("wb")))
        for event in _simulated(config, "simulated", stack):
            out.write(dumps(event, option=option))
            count += 1
        out.flush()
    print(f"Wrote {count:,} events for {config.sellers} sellers over {config.days} days "
          f"to {target}", file=sys.stderr)
    return 0


def _simulate_to_kafka(config: SimulationConfig, rate: float | None) -> int:
    import asyncio

    from streams.kafka.client import in_step, produce, topic_for
    from streams.kafka.settings import Settings

    settings = Settings.from_env()
    started = time.perf_counter()
    with ExitStack() as stack:
        records = ((topic_for(e["type"], settings), e["seller_id"].encode(), orjson.dumps(e),
                    parse_time_ms(e["event_time"]))
                   for e in _simulated(config, "produced", stack))
        # History is produced far faster than it happened: keep the four topics within a
        # third of the allowed lateness of each other, or a worker reading meanwhile would
        # see one topic days ahead of another and dead-letter the other's events as too late.
        step_ms = max(1, settings.allowed_lateness_ms // 3)
        sent = asyncio.run(produce(settings, in_step(records, step_ms), rate, linger_ms=2))
    seconds = time.perf_counter() - started
    print(f"Produced {sent:,} events for {config.sellers} sellers to {settings.bootstrap_servers}"
          f" in {seconds:.1f} s ({report.rate(sent, seconds)})", file=sys.stderr)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the Faust worker."""
    import asyncio

    from streams.kafka.client import check_broker
    from streams.kafka.settings import Settings
    from streams.kafka.worker import run_worker

    settings = Settings.from_env()
    # Faust would log a 30-line traceback and stop: say it in one line before it starts.
    asyncio.run(check_broker(settings))
    sys.argv = [sys.argv[0], "worker"]
    run_worker(settings)
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
    if str(args.events) == "-":
        raise UsageError("events -: backtest reads the file twice, so not from stdin; "
                         "expected a file path")
    _check_events(args.events)
    current = _load_profile(args.profile)
    proposed = _load_profile(args.targets, "--targets")
    results = [_replay_file(args.events, args, p) for p in (current, proposed)]
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
        if not args.root.is_dir():
            raise UsageError(f"--root {args.root}: no such folder; expected the folder of "
                             f"the JSON Schemas (schemas/ in a checkout)")
        stale = schemas.check(args.root)
        for name in stale:
            print(f"stale: {name}", file=sys.stderr)
        return 1 if stale else 0
    for path in schemas.write(args.root):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
