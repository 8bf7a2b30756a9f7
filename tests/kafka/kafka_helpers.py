"""Producing event files to the input topics and reading output topics back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

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


async def _read(settings: Settings, topic: str) -> list[tuple[bytes | None, bytes]]:
    ends = await _ends(settings, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning()
        out: list[tuple[bytes | None, bytes]] = []
        by_tp: dict[TopicPartition, list[tuple[bytes | None, bytes]]] = {tp: [] for tp in ends}
        remaining = {tp for tp, end in ends.items() if end > 0}
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for m in messages:
                    by_tp[tp].append((m.key, m.value))
                    if m.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        for tp in sorted(by_tp, key=lambda t: t.partition):
            out += by_tp[tp]
        return out
    finally:
        await consumer.stop()


def read_all(settings: Settings, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every record of a topic, partition by partition, in offset order."""
    return asyncio.run(_read(settings, topic))
