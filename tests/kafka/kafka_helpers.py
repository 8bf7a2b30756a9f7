"""Producing event files to the input topics and reading output topics back."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from streams.core.events import decode_event, event_time_ms
from streams.errors import InvalidEvent
from streams.kafka.client import in_step, produce, topic_for
from streams.kafka.settings import Settings


def records_of(lines: Iterable[bytes], settings: Settings) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) for each event line, keyed by its seller id."""
    out = []
    for line in lines:
        event = orjson.loads(line)
        out.append((topic_for(event["type"], settings), event["seller_id"].encode(), line))
    return out


STEP_MS = 86_400_000
"""Producing history at full speed, the topics are kept within a day of event time of
each other (two steps stay under the tests' allowed lateness of three days)."""


def send(settings: Settings, records: list[tuple[str, bytes | None, bytes]],
         rate_per_s: float | None = None) -> None:
    """Produce records in order, the topics in step, and wait until the broker has them."""
    timed, t = [], 0
    for topic, key, value in records:
        with contextlib.suppress(InvalidEvent):  # bad input goes with the step it is in
            t = event_time_ms(decode_event(value))
        timed.append((topic, key, value, t))
    asyncio.run(produce(settings, in_step(timed, STEP_MS), rate_per_s, linger_ms=5))


async def _ends(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def _committed(settings: Settings) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.app_id)
        return {tp: meta.offset for tp, meta in offsets.items()}
    except GroupCoordinatorNotAvailableError:
        return {}  # a fresh broker creates __consumer_offsets on first use: nothing yet
    finally:
        await admin.close()


def progress(settings: Settings) -> tuple[int, int]:
    """(committed, end) summed over the input topics' partitions for the worker group."""
    ends = asyncio.run(_ends(settings, list(settings.input_topics)))
    committed = asyncio.run(_committed(settings))
    return sum(max(0, committed.get(tp, 0)) for tp in ends), sum(ends.values())


def wait_until_done(settings: Settings, timeout_s: float = 120.0) -> None:
    """Until the worker group has committed every input record."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, total = progress(settings)
        if total and done >= total:
            return
        time.sleep(1.0)
    raise AssertionError(f"worker did not finish: {progress(settings)} (committed, end)")


async def _read(settings: Settings, topic: str, timeout_s: float) -> list[
    tuple[bytes | None, bytes]
]:
    ends = await _ends(settings, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning()
        out: list[tuple[bytes | None, bytes]] = []
        by_tp: dict[TopicPartition, list[tuple[bytes | None, bytes]]] = {tp: [] for tp in ends}
        remaining = {tp for tp, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                got = sum(len(v) for v in by_tp.values())
                raise AssertionError(
                    f"{topic}: read {got} records in {timeout_s:.0f} s; partitions "
                    f"{sorted(tp.partition for tp in remaining)} not read up to {ends}")
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                by_tp[tp] += [(m.key, m.value) for m in messages]
            # The position, not the last offset seen: compaction leaves gaps.
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        for tp in sorted(by_tp, key=lambda t: t.partition):
            out += by_tp[tp]
        return out
    finally:
        await consumer.stop()


def read_all(settings: Settings, topic: str,
             timeout_s: float = 60.0) -> list[tuple[bytes | None, bytes]]:
    """Every record of a topic, partition by partition, in offset order; raises rather than
    return part of it."""
    return asyncio.run(_read(settings, topic, timeout_s))


def last_snapshots(settings: Settings) -> dict[str, dict[str, Any]]:
    """The last record per seller of the (compacted) metrics topic."""
    out = {}
    for key, value in read_all(settings, settings.topic_metrics):
        if key is not None and value is not None:
            out[key.decode()] = orjson.loads(value)
    return out


_CLOCK_FIELDS = ("as_of", "window_start", "window_end")


def without_as_of(snaps: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Snapshots but their `as_of` and window dates: a seller's last record on the metrics
    topic is from its last change, and the clock (so the windows) may have moved on since
    with nothing to tell (a snapshot is published when a seller's rates or statuses change,
    not at every step of the clock: a day costs only the sellers whose sums change)."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _CLOCK_FIELDS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return {seller: strip(snap) for seller, snap in snaps.items()}


def settled_snapshots(settings: Settings, want: dict[str, dict[str, Any]],
                      timeout_s: float = 20.0) -> dict[str, dict[str, Any]]:
    """The metrics topic's last record per seller, but its `as_of` (see `without_as_of`),
    once it equals `want`'s or `timeout_s` has passed (the last snapshots wait for the idle
    flush after the last commit)."""
    deadline = time.monotonic() + timeout_s
    want = without_as_of(want)
    while True:
        got = without_as_of(last_snapshots(settings))
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(1.0)


class Background:
    """`send` in a thread, so that faults can land while records are on their way."""

    def __init__(self, settings: Settings, records: list[tuple[str, bytes | None, bytes]],
                 rate_per_s: float) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(settings, records, rate_per_s),
                                       daemon=True)
        self.thread.start()

    def _run(self, settings: Settings, records: list[tuple[str, bytes | None, bytes]],
             rate_per_s: float) -> None:
        try:
            send(settings, records, rate_per_s)
        except BaseException as exc:  # raised again by join
            self.error = exc

    def running(self) -> bool:
        return self.thread.is_alive()

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error
