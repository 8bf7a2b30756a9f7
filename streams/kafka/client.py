"""Talking to Kafka outside the worker: creating topics, producing events."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.core.events import TOPIC_OF
from streams.kafka.settings import Settings


@dataclass(frozen=True, slots=True)
class TopicPlan:
    """A topic this project needs."""

    name: str
    """Topic name."""
    config: dict[str, str]
    """Topic-level configuration."""


def topic_plan(settings: Settings) -> list[TopicPlan]:
    """Inputs, outputs and the dead-letter topic."""
    plan = [TopicPlan(t, {}) for t in settings.input_topics]
    plan.append(TopicPlan(settings.topic_alerts, {}))
    plan.append(TopicPlan(settings.topic_metrics, {"cleanup.policy": "compact"}))
    plan.append(TopicPlan(settings.topic_dead_letters, {}))
    return plan


def _client_args(settings: Settings) -> dict[str, object]:
    """The connection keyword arguments of an aiokafka client. With security on, the
    credentials are tried once first (once per process), so a refused login or certificate
    is one line naming the setting, not aiokafka's "Unable to bootstrap"."""
    from streams.kafka.security import check_login_now, client_options

    options = client_options(settings)
    if options:
        check_login_now(settings)
    return {"bootstrap_servers": settings.bootstrap_servers, **options}


async def create_topics(settings: Settings) -> tuple[list[str], list[str]]:
    """Create the missing topics; (created, already there)."""
    admin = AIOKafkaAdminClient(**_client_args(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        plan = topic_plan(settings)
        missing = [p for p in plan if p.name not in existing]
        if missing:
            await admin.create_topics([
                NewTopic(p.name, settings.partitions, settings.replication_factor,
                         topic_configs=p.config) for p in missing
            ])
        return [p.name for p in missing], [p.name for p in plan if p.name in existing]
    finally:
        await admin.close()


def reachable(servers: str) -> bool:
    """Whether the first bootstrap server accepts a connection."""
    host, _, port = servers.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2):
            return True
    except OSError:
        return False


def topic_for(event_type: str, settings: Settings) -> str:
    """The input topic an event type belongs on."""
    topic = TOPIC_OF[event_type]
    return {"orders": settings.topic_orders, "shipments": settings.topic_shipments,
            "messages": settings.topic_messages, "refunds": settings.topic_refunds}[topic]


Record = tuple[str, bytes | None, bytes]
"""(topic, key, value) of one record to produce."""


def in_step(records: Iterable[tuple[str, bytes | None, bytes, int]],
            step_ms: int) -> Iterator[Record | None]:
    """Records (topic, key, value, event time in ms) with a barrier (None) each time event
    time enters a new step of `step_ms`.

    `produce` waits at each barrier until the step before the previous one is on the
    broker, so no topic gets more than about two steps of event time ahead of another:
    a worker reading while history is produced at full speed then sees the topics in step
    (keep two steps under its allowed lateness).
    """
    current = None
    for topic, key, value, t in records:
        step = t // step_ms
        if step != current:
            if current is not None:
                yield None
            current = step
        yield topic, key, value


async def produce(
    settings: Settings,
    events: Iterable[Record | None],
    rate_per_s: float | None = None,
    progress: Callable[[int], None] | None = None,
    linger_ms: int = 20,
) -> int:
    """Send (topic, key, value) records, at most `rate_per_s` a second; how many were sent.

    A None among the records is a barrier (see `in_step`): sending goes on once every
    record before the previous barrier is on the broker.
    """
    producer = AIOKafkaProducer(linger_ms=linger_ms, max_batch_size=256 * 1024, acks="all",
                                enable_idempotence=True, **_client_args(settings))
    await producer.start()
    sent = 0
    started = time.perf_counter()
    try:
        pending: list[asyncio.Future[object]] = []
        previous: list[asyncio.Future[object]] = []
        for item in events:
            if item is None:
                await asyncio.gather(*previous)
                previous, pending = pending, []
                continue
            topic, key, value = item
            pending.append(await producer.send(topic, value=value, key=key))
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
            if progress is not None and sent % 1000 == 0:
                progress(1000)
            if rate_per_s:
                ahead = sent / rate_per_s - (time.perf_counter() - started)
                if ahead > 0.005:
                    await asyncio.sleep(ahead)
        await asyncio.gather(*previous, *pending)
        await producer.flush()
    finally:
        await producer.stop()
    return sent
