"""Talking to Kafka outside the worker: creating topics, producing events."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from streams.core.events import TOPIC_OF
from streams.errors import KafkaRequestFailed, KafkaUnavailable
from streams.kafka.settings import Settings, SettingsError

CONNECT_TIMEOUT_S: Final = 10.0
"""Longest wait for a broker to answer at start-up (create_topics, produce) before giving up."""
TOPIC_ALREADY_EXISTS: Final = 36
"""Kafka's error code for a topic created meanwhile by someone else."""


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
    check_servers(settings.bootstrap_servers)
    admin = AIOKafkaAdminClient(**_client_args(settings))
    await _start(admin.start(), admin.close, settings)
    try:
        existing = set(await admin.list_topics())
        plan = topic_plan(settings)
        missing = [p for p in plan if p.name not in existing]
        if missing:
            response = await admin.create_topics([
                NewTopic(p.name, settings.partitions, settings.replication_factor,
                         topic_configs=p.config) for p in missing
            ])
            _check_topic_errors(response.topic_errors, settings)
        return [p.name for p in missing], [p.name for p in plan if p.name in existing]
    except KafkaError as exc:
        raise _failed("creating topics", exc, settings) from None
    finally:
        await admin.close()


async def committed_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """The worker group's committed offset of each topic partition it has committed."""
    admin = AIOKafkaAdminClient(**_client_args(settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.app_id)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()
            if meta.offset >= 0}


async def check_broker(settings: Settings) -> None:
    """Raise KafkaUnavailable unless a broker answers within CONNECT_TIMEOUT_S."""
    check_servers(settings.bootstrap_servers)
    admin = AIOKafkaAdminClient(**_client_args(settings))
    await _start(admin.start(), admin.close, settings)
    await admin.close()


async def _start(starting: Awaitable[None], close: Callable[[], Awaitable[None]],
                 settings: Settings) -> None:
    """Start a client within CONNECT_TIMEOUT_S; on failure close it and raise one clear error."""
    try:
        await asyncio.wait_for(starting, CONNECT_TIMEOUT_S)
    except (KafkaError, OSError, TimeoutError) as exc:
        await close()
        why = (f"no answer in {CONNECT_TIMEOUT_S:g} s" if isinstance(exc, TimeoutError)
               else "connection failed" if isinstance(exc, KafkaConnectionError)
               else str(exc) or type(exc).__name__)
        raise KafkaUnavailable(
            f"KAFKA_BOOTSTRAP_SERVERS={settings.bootstrap_servers}: no Kafka broker answered "
            f"({why}); expected a running broker at that address (start one with "
            f"deploy/kafka/start.sh, or set KAFKA_BOOTSTRAP_SERVERS)") from None


def check_servers(servers: str) -> None:
    """Raise SettingsError unless `servers` is host:port[,host:port...]."""
    for item in servers.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon:  # aiokafka's default port
            host, port = item.strip(), "9092"
        if (not host or any(c.isspace() for c in host) or not port.isdigit()
                or not 0 < int(port) < 65536):
            raise SettingsError(
                f"KAFKA_BOOTSTRAP_SERVERS: got {servers!r}; expected host:port[,host:port...] "
                f"with ports from 1 to 65535")


def _failed(doing: str, exc: KafkaError, settings: Settings) -> KafkaRequestFailed:
    return KafkaRequestFailed(
        f"Kafka at {settings.bootstrap_servers}: {doing} failed: {exc or type(exc).__name__}")


def _check_topic_errors(topic_errors: Iterable[tuple[object, ...]], settings: Settings) -> None:
    """Raise on the first topic the broker refused to create (the response does not raise)."""
    for topic, code, *message in topic_errors:
        if code and code != TOPIC_ALREADY_EXISTS:
            detail = message[0] if message and message[0] else f"error code {code}"
            raise KafkaRequestFailed(
                f"Kafka at {settings.bootstrap_servers}: topic {topic}: not created: {detail} "
                f"(SELLERPERF_PARTITIONS={settings.partitions}, "
                f"SELLERPERF_REPLICATION_FACTOR={settings.replication_factor})")


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
    check_servers(settings.bootstrap_servers)
    producer = AIOKafkaProducer(linger_ms=linger_ms, max_batch_size=256 * 1024, acks="all",
                                enable_idempotence=True, **_client_args(settings))
    await _start(producer.start(), producer.stop, settings)
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
    except KafkaError as exc:
        raise _failed("producing", exc, settings) from None
    finally:
        await producer.stop()
    return sent
