"""The whole Kafka benchmark: sizes, the run of every measure in order, the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backlog import EVENTS_PER_ORDER, Backlog
from .harness import (
    ROOT,
    delete_topics,
    end_offsets,
    ensure_broker,
    git_state,
    load,
    log,
    topic_set,
)
from .latency import latency
from .limits import consumer_perf, engine_alone, faust_ceiling, raw_aiokafka
from .multi_worker import worker_group_backlog
from .peers import DEFAULT_QUIX_PYTHON, quix
from .report import render
from .state import state_scale
from .throughput import median_run, too_large, worker_backlog

DESCRIPTION = ("Kafka benchmark: the limits, the engine, the worker end to end, latency, state, "
               "Quix Streams.")


@dataclass
class Sizes:
    """How much of everything a run makes (--quick: small)."""

    backlog_sellers: int
    backlog_events: int
    backlog_days: int
    engine_events: int
    scale_sellers: int
    scale_days: int
    scale_orders_per_seller_day: float
    heavy_sellers: int
    heavy_days: int
    heavy_orders_per_seller_day: float
    latency_s: float
    stores: tuple[str, ...]
    timeout_s: float


def sizes(args: argparse.Namespace) -> Sizes:
    if args.quick:
        q = Sizes(200, 20_000, 30, 20_000, 0, 2, 1.0, 0, 90, 8.0, 8.0, ("memory://",), 120)
    else:
        q = Sizes(10_000, 1_000_000, 30, 1_000_000, 1_000_000, 2, 1.0, 1_000, 90, 8.0, 60.0,
                  ("memory://", "rocksdb://"), 1800)
    for field in ("backlog_sellers", "backlog_events", "engine_events", "scale_sellers",
                  "heavy_sellers", "latency_s"):
        value = getattr(args, field)
        if value is not None:
            setattr(q, field, value)
    if args.stores:
        q.stores = tuple(args.stores.split(","))
    return q


def run(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    ensure_broker(bootstrap)
    z = sizes(args)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    tmp = Path(args.tmp_dir) / prefix
    tmp.mkdir(parents=True, exist_ok=True)
    data_dir = Path(args.data_dir)
    skip = set(args.skip.split(",")) if args.skip else set()
    r: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.python_implementation()} "
                   f"{platform.python_version()}, {os.cpu_count()} cores",
        "quick": args.quick, "prefix": prefix, "bootstrap": bootstrap,
        "load_at_start": load(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git_at_start": git_state(),
    }
    try:
        opsd = round(z.backlog_events / (z.backlog_sellers * z.backlog_days * EVENTS_PER_ORDER), 4)
        backlog = Backlog.make(data_dir, z.backlog_sellers, z.backlog_days, opsd)
        inputs = topic_set(bootstrap, f"{prefix}-in", f"{prefix}-in")
        log(f"producing {backlog.path.name} to {prefix}-in-*")
        r["backlog"] = backlog.load(inputs)
        r["backlog"].update({"sellers": z.backlog_sellers, "days": z.backlog_days,
                             "orders_per_seller_day": opsd, "file": backlog.path.name})
        ends = end_offsets(inputs, list(inputs.input_topics))
        if "limits" not in skip:
            log("ConsumerPerformance")
            r["consumer_perf"] = consumer_perf(inputs, sum(ends.values()))
            log("raw aiokafka + orjson")
            r["raw_aiokafka"] = raw_aiokafka(inputs, ends)
            for mode in ("stream", "fetch", "ack"):
                log(f"Faust app doing nothing ({mode})")
                r[f"faust_{mode}"] = faust_ceiling(inputs, sum(ends.values()), mode,
                                                   z.timeout_s, tmp)
        if "engine" not in skip:
            log(f"engine alone ({z.engine_events:,} events)")
            r["engine"] = engine_alone(z.engine_events, data_dir,
                                       jsonschema=not args.quick)
        r["worker"] = {}
        big = args.max_message_bytes
        if "worker" not in skip:
            runs: dict[str, list[dict[str, Any]]] = {}
            for i in range(args.repeat):  # stores interleaved: drift hits each alike
                for store in z.stores:
                    name = store.split(":")[0]
                    app_id = f"{prefix}-w{name}" + (f"r{i + 1}" if i else "")
                    log(f"worker end to end, {store}"
                        + (f", run {i + 1} of {args.repeat}" if args.repeat > 1 else ""))
                    w = worker_backlog(inputs, app_id, store, tmp, ends,
                                       timeout_s=z.timeout_s, evict=args.evict)
                    if too_large(w) and big:
                        log(f"worker {store} crashed on a table record over 1 MB; again, "
                            f"allowing records up to {big:,} bytes")
                        retry = worker_backlog(inputs, f"{app_id}b", store, tmp, ends,
                                               timeout_s=z.timeout_s, max_message_bytes=big,
                                               evict=args.evict)
                        retry["as_shipped"] = w
                        w = retry
                    runs.setdefault(name, []).append(w)
            for name, ws in runs.items():
                r["worker"][name] = median_run(ws)
            if args.workers > 1:
                store = z.stores[-1]
                name = store.split(":")[0]
                log(f"worker end to end, {store}, {args.workers} processes of one group")
                r["worker"][f"{name}_x{args.workers}"] = worker_group_backlog(
                    inputs, f"{prefix}-g{name}", store, tmp, ends, processes=args.workers,
                    timeout_s=z.timeout_s, evict=args.evict)
        if args.profile:
            log(f"worker under py-spy, {args.profile_store}")
            r["worker_profiled"] = worker_backlog(
                inputs, f"{prefix}-wprof", args.profile_store, tmp, ends,
                timeout_s=z.timeout_s, profile=Path(args.profile_svg),
                profile_window=(args.profile_after_s, args.profile_s), max_message_bytes=big)
        if "quix" not in skip:
            log("Quix Streams")
            r["quix"] = quix(args.quix_python, inputs, prefix, tmp, timeout_s=z.timeout_s)
        if "latency" not in skip:
            log(f"latency ({z.latency_s:.0f} s at {args.rate:,.0f} events/s)")
            r["latency"] = latency(bootstrap, prefix, tmp, duration_s=z.latency_s,
                                   rate=args.rate, lateness_ms=args.lateness_ms,
                                   sellers=args.live_sellers, burst_every_s=args.burst_every_s)
        if "state" not in skip:
            r["state"] = state_scale(bootstrap, prefix, tmp, data_dir, z, backlog,
                                     args.max_message_bytes, args.state_evict)
    finally:
        if not args.keep_topics:
            try:
                deleted = asyncio.run(delete_topics(bootstrap, prefix))
                log(f"deleted {len(deleted)} topics")
            except Exception as exc:  # the broker went away: leave them
                log(f"could not delete topics: {exc}")
        shutil.rmtree(tmp, ignore_errors=True)
    r["load_at_end"] = load()
    r["git_at_end"] = git_state()
    return r


def main() -> int:
    p = argparse.ArgumentParser(description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (< 60 s), for the smoke test")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "kafka.json")
    p.add_argument("--backlog-events", type=int, default=None,
                   help="events in the throughput backlog [1,000,000; quick 20,000]")
    p.add_argument("--backlog-sellers", type=int, default=None, help="[10,000; quick 200]")
    p.add_argument("--engine-events", type=int, default=None,
                   help="events for bench_engine.py [1,000,000; quick 20,000]")
    p.add_argument("--scale-sellers", type=int, default=None,
                   help="sellers of the state-at-scale backlog, 0 skips the worker part "
                        "[1,000,000; quick 0]")
    p.add_argument("--heavy-sellers", type=int, default=None,
                   help="sellers with 90 days of orders (8 a day on average) added to the "
                        "state-at-scale backlog for a second worker run, 0 skips it "
                        "[1,000; quick 0]")
    p.add_argument("--state-evict", default="all", choices=("none", "settled", "all"),
                   help="SELLERPERF_EVICT of the state-at-scale workers [%(default)s]")
    p.add_argument("--evict", default=None, choices=("none", "settled", "all"),
                   help="SELLERPERF_EVICT of the throughput workers [the worker's default]")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each worker end to end this many times (stores interleaved) "
                        "and report the median run; runs vary by about 10 %% here "
                        "[%(default)s]")
    p.add_argument("--workers", type=int, default=1,
                   help="also run this many worker processes of one group on the last "
                        "store (1: not) [%(default)s]")
    p.add_argument("--stores", default=None,
                   help="worker stores, comma separated [memory://,rocksdb://; quick memory://]")
    p.add_argument("--latency-s", type=float, default=None, help="[60; quick 8]")
    p.add_argument("--rate", type=float, default=2000.0, help="offered load for latency")
    p.add_argument("--lateness-ms", type=int, default=200,
                   help="SELLERPERF_ALLOWED_LATENESS_MS of the latency worker")
    p.add_argument("--live-sellers", type=int, default=2000)
    p.add_argument("--burst-every-s", type=float, default=0.5)
    p.add_argument("--profile", action="store_true",
                   help="also run a worker under py-spy (a run of its own)")
    p.add_argument("--profile-store", default="rocksdb://")
    p.add_argument("--profile-svg", default=str(ROOT / "bench/results/worker-profile.svg"))
    p.add_argument("--quix-python", default=DEFAULT_QUIX_PYTHON)
    p.add_argument("--max-message-bytes", type=int, default=64 << 20,
                   help="when a backlog worker crashes on a table record over Kafka's 1 MB "
                        "default, run it again allowing records up to this size (Faust's "
                        "PRODUCER_MAX_REQUEST_SIZE and the changelog topic's max.message.bytes; "
                        "both runs are reported); 0: no second run [%(default)s]")
    p.add_argument("--profile-after-s", type=float, default=20.0,
                   help="start sampling this long after the first commit [%(default)s]")
    p.add_argument("--profile-s", type=float, default=60.0,
                   help="seconds of sampling; the profiled run ends with it [%(default)s]")
    p.add_argument("--skip", default="",
                   help="comma separated: limits,engine,worker,quix,latency,state")
    p.add_argument("--data-dir", default=str(ROOT / "bench" / ".data"))
    p.add_argument("--tmp-dir", default="/tmp/sellerperf-bench")
    p.add_argument("--keep-topics", action="store_true")
    p.add_argument("--render", type=Path, default=None,
                   help="print the table of a saved result file and exit (no measuring)")
    args = p.parse_args()
    if args.render:
        render(json.loads(args.render.read_text()), None)
        return 0
    started = time.perf_counter()
    r = run(args)
    r["seconds"] = time.perf_counter() - started
    render(r, args.json)
    return 0
