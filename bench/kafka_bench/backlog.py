"""The simulated event file a run produces to its input topics."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.core.clock import DAY_MS
from streams.kafka.client import create_topics, produce, topic_for
from streams.kafka.settings import Settings
from streams.offline.simulate import DEFAULT_START_MS, SimulationConfig, write_ndjson

from .harness import log

EVENTS_PER_ORDER = 4.1  # what the simulator makes per order over 30 days, tail cut included


def _event_time(line: bytes) -> bytes:
    """The event time of an event line, as text (RFC 3339 UTC: sorts as it reads)."""
    return orjson.loads(line)["event_time"].encode() if line.strip() else b""


@dataclass(frozen=True)
class Backlog:
    """A cached simulated event file."""

    path: Path
    sellers: int
    days: int
    orders_per_seller_day: float

    @staticmethod
    def make(data_dir: Path, sellers: int, days: int, orders_per_seller_day: float,
             seed: int = 5) -> Backlog:
        path = data_dir / f"backlog-{sellers}s-{days}d-{orders_per_seller_day:g}o.ndjson"
        if not path.exists():
            log(f"simulating {sellers:,} sellers x {days} days -> {path.name}")
            write_ndjson(SimulationConfig(seed=seed, sellers=sellers, days=days,
                                          orders_per_seller_day=orders_per_seller_day), path)
        return Backlog(path, sellers, days, orders_per_seller_day)

    def with_heavy(self, data_dir: Path, sellers: int, days: int,
                   orders_per_seller_day: float) -> Backlog:
        """This backlog and, merged in by event time, `sellers` more sellers ("H" ids) with
        `days` days of orders ending with this backlog's last day."""
        path = data_dir / (f"{self.path.stem}-plus-{sellers}h{days}d"
                           f"{orders_per_seller_day:g}o.ndjson")
        if not path.exists():
            log(f"simulating {sellers:,} more sellers x {days} days -> {path.name}")
            heavy = data_dir / f"heavy-{sellers}h{days}d{orders_per_seller_day:g}o.ndjson"
            write_ndjson(SimulationConfig(
                seed=11, sellers=sellers, days=days, seller_prefix="H",
                orders_per_seller_day=orders_per_seller_day,
                start_ms=DEFAULT_START_MS - (days - self.days) * DAY_MS), heavy)
            with self.path.open("rb") as a, heavy.open("rb") as b, path.open("wb") as out:
                out.writelines(heapq.merge(a, b, key=_event_time))
            heavy.unlink()
        return Backlog(path, self.sellers + sellers, self.days, self.orders_per_seller_day)

    def records(self, s: Settings) -> Iterator[tuple[str, bytes, bytes]]:
        """(topic, key, value) of each event, keyed by seller id."""
        with self.path.open("rb") as f:
            for line in f:
                line = line.rstrip(b"\n")
                if line:
                    e = orjson.loads(line)
                    yield topic_for(e["type"], s), e["seller_id"].encode(), line

    def load(self, s: Settings) -> dict[str, Any]:
        """Create the topics and produce the file to them; counts and rate."""
        asyncio.run(create_topics(s))
        per_topic: Counter[str] = Counter()
        size = 0

        def counted() -> Iterator[tuple[str, bytes, bytes]]:
            nonlocal size
            for rec in self.records(s):
                per_topic[rec[0]] += 1
                size += len(rec[2])
                yield rec

        started = time.perf_counter()
        sent = asyncio.run(produce(s, counted()))
        seconds = time.perf_counter() - started
        return {"events": sent, "bytes": size, "per_topic": dict(per_topic),
                "produce_seconds": seconds, "produce_events_per_s": sent / seconds}
