"""Faust's aiokafka transport with a consumer of our own delivery loop: the input topics'
records go to one agent record by record (Faust's stream) or a whole fetch at a time.

Faust's own loop (`Consumer._drain_messages` and `getmany`) loses records in three ways,
all found by the kill -9 and hand-over tests (rates a few per cent low, no dead letters):

- A partition paused while a fetch is under way: Faust's `pause_partitions` removes it
  from the very set the fetch's records are then filtered by, so they are dropped after
  the consumer's position moved past them. The next record after them looks like a gap
  in the offsets, which Faust declares acknowledged (its gap includes that record too),
  and the commit moves over records never processed. The worker pauses topics that
  run ahead (`Runtime.flow`), so this is not rare.
- A rebalance that cuts a delivery short: `wait_first` returns on `suspend_flow` and Faust
  marks the record read anyway, then every other record of that fetch, also after the
  revocation cleared the marks; the next assignment then skips those records until the
  seek to the committed offsets, and takes what came after them first.
- Records delivered between the end of a rebalance's recovery, which resumes the input
  partitions, and the seek to the committed offsets that follows it: the seek's records
  then come behind records already taken (and look already applied), and Faust's streams
  skip some of them while its flow control is still off.

The loop here delivers every record a fetch returned, declares only the missing offsets
as gaps, marks nothing read that a rebalance interrupted (those records are fetched
again from the committed offsets), and delivers no input record before the current
generation's seek (it seeks them back: they come again after it). The seek waits until
no fetch is being delivered, so that no fetch straddles it.
Everything else stays Faust's: group membership, assignment and rebalances, flow
control, offsets and their commits.

Faust's per-record delivery is also its ceiling: a task and a future per record, then a
message, an event, a queue put and a stream step. Measured on the benchmark backlog
(`bench/bench_kafka.py`, row "1c"), that path alone caps a worker that does nothing at
~16,000 events/s, while handing over whole fetches reads ~700,000 events/s (row "1d";
`SELLERPERF_CONSUME=fetch`, the default). What a fetch carries is acknowledged record by record
through `Consumer.ack`, as Faust's own streams do, so Faust commits what is
acknowledged and nothing past a record that is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from faust.transport.drivers import aiokafka as driver
from faust.types import TP

FETCHES_AHEAD: Final = 16
"""Fetches waiting for the agent at most. With 2, a worker on a backlog spent ~60 % of
its wall time on batches and much of the rest waiting for the next fetch, though the
consumer reads ~30x faster than the agent takes: the delivery loop's calls for the
next records (through the consumer's thread) took 28 ms on average, a third of them
over 20 ms and 150 ms on average (instrumented runs, not committed). Measured on the
benchmark backlog (rocksdb://, `bench/bench_kafka.py --skip
limits,engine,quix,latency,state`): 2: 19,642 events/s, 8: 22,065, 16: 24,085, 32:
22,511-23,937, 64: 24,113. The cost: up to this many fetches (each at most
SELLERPERF_BATCH_SIZE records) in memory, taken even after their topic is paused, so a
partition may hold back that many more events than SELLERPERF_MAX_PENDING; after a
rebalance the queued ones are left (fetched again)."""


class Acked:
    """The handle by which a record taken from a fetch is acknowledged (what
    `Consumer.ack` reads of a message)."""

    __slots__ = ("__weakref__", "acked", "offset", "topic", "tp")

    def __init__(self, tp: TP, offset: int) -> None:
        self.tp = tp
        self.topic = tp.topic
        self.offset = offset
        self.acked = False


@dataclass(frozen=True, slots=True)
class Fetch:
    """The input records of one fetch, per topic partition in offset order."""

    generation: int
    """The consumer group generation the records were fetched in."""
    records: dict[TP, list[Any]]
    """aiokafka `ConsumerRecord`s (topic, partition, offset, timestamp in ms, key, value)."""

    def __len__(self) -> int:
        return sum(len(batch) for batch in self.records.values())


HandOver = Callable[[Fetch], Awaitable[Any]]


class Consumer(driver.Consumer):
    """Faust's aiokafka consumer with the delivery loop described above."""

    _delivering: asyncio.Lock | None = None
    _sought = -1
    """The consumer group generation whose seek to the committed offsets is done."""

    def _delivery(self) -> asyncio.Lock:
        """Held from a fetch until its records are delivered, and by a seek."""
        if self._delivering is None:
            self._delivering = asyncio.Lock()
        return self._delivering

    async def perform_seek(self) -> None:
        """Faust's seek of every partition to its committed offset (at the end of a
        rebalance), never while a fetch is being delivered: records fetched before the
        seek but delivered after it would come ahead of the records the seek goes back
        to, and a fetch made after it (its records are the seek's) must not be dropped."""
        generation = self.app.consumer_generation_id
        async with self._delivery():
            await super().perform_seek()
        if self.app.consumer_generation_id == generation:
            self._sought = generation

    def _current(self, generation: int) -> bool:
        """Whether records fetched in `generation` may still be delivered."""
        return (self.flow_active and not self.should_stop
                and self.app.consumer_generation_id == generation)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover (Kafka tier)
        """Faust's delivery loop without its losses (see the module's docstring)."""
        transport: Transport = self.transport  # type: ignore[assignment]
        hand_over, inputs = transport.hand_over, transport.input_topics
        consumer_stopped, fetcher_stopped = self._stopped.is_set, fetcher._stopped.is_set
        commit_every = self._commit_every
        delivery = self._delivery()
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                if not self.flow_active:
                    # Not under the lock: the seek comes before the flow resumes.
                    await self.wait(self.can_resume_flow)  # type: ignore[arg-type]
                    continue
                async with delivery:
                    if not self.flow_active:
                        continue
                    # The flow is active: this does not wait for it under the lock.
                    records, _ = await self._wait_next_records(timeout=1.0)
                    generation = self.app.consumer_generation_id
                    if not records or not self._current(generation):
                        continue
                    # Input records only once this generation's seek is done: taken
                    # before it, they would come ahead of records the seek goes back to
                    # (and Faust's streams skip them while its flow control is off).
                    ready = (self._sought == generation
                             and self.app.flow_control.is_active())
                    taken: dict[TP, list[Any]] = {}
                    for tp, batch in records.items():
                        if not ready and tp.topic in inputs:
                            if not self._current(generation):
                                break  # a rebalance: its assignment fetches them again
                            await self.seek(tp, batch[0].offset)  # fetched again later
                            continue
                        # Every record returned is delivered, whether or not its partition
                        # is still in Faust's active set: Faust's drain skips those paused
                        # while the fetch was under way (its pause_partitions changes
                        # that very set), and the consumer's position has moved past them,
                        # so they never came back and the next record's gap was committed
                        # over them.
                        batch = await self._new_records(tp, batch)
                        if not batch:
                            continue
                        if hand_over is not None and tp.topic in inputs:
                            taken[tp] = batch
                        elif not await self._one_by_one(tp, batch, generation):
                            break
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if taken and hand_over is not None and self._current(generation):
                        for tp, batch in taken.items():
                            self._read_offset[tp] = batch[-1].offset
                        # As Faust's own delivery: a rebalance must not wait on a full
                        # queue.
                        await self.wait_first(hand_over(Fetch(generation, taken)),
                                              self.suspend_flow.wait())
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise

    async def _new_records(self, tp: TP, batch: list[Any]) -> list[Any]:
        """The records not delivered before (as Faust's drain: offsets at or after the last
        read), with every gap in the offsets (compaction, transaction markers) declared
        so that the commit can move over it."""
        last = self._read_offset[tp]
        if last is not None and batch[0].offset < last:
            batch = [r for r in batch if r.offset >= last]
            if not batch:
                return batch
        first, end = batch[0].offset, batch[-1].offset
        contiguous = end - first == len(batch) - 1 and (not last or first - last <= 1)
        if not contiguous and self.app.topics.acks_enabled_for(tp.topic):
            for before, offset in _gaps(last, (r.offset for r in batch)):
                # Faust's gaps include their last offset: the missing ones only (Faust's
                # own drain also counts the record after the gap as acknowledged).
                await self._add_gap(tp, before + 1, offset - 1)
        return batch

    async def _one_by_one(self, tp: TP, batch: list[Any], generation: int) -> bool:
        """Faust's per-record delivery; False if a rebalance cut it short (the record
        being delivered and the rest are then not marked read)."""
        for record in batch:
            await self.wait_first(self.callback(self._to_message(tp, record)),
                                  self.suspend_flow.wait())
            if not self._current(generation):
                return False
            self._read_offset[tp] = record.offset
        return True


def _gaps(last: int | None, offsets: Iterable[int]) -> list[tuple[int, int]]:
    """(before, after) for each jump of more than one between consecutive offsets,
    starting from the last offset read (None: from the first offset)."""
    out = []
    before = last
    for offset in offsets:
        if before and offset - before > 1:  # as Faust: no gap counted from offset 0
            out.append((before, offset))
        before = offset
    return out


class Transport(driver.Transport):
    """Faust's aiokafka transport with the consumer above; `hand_over` receives each fetch
    of `input_topics` (None: one record at a time, as Faust)."""

    Consumer = Consumer
    hand_over: HandOver | None = None
    input_topics: frozenset[str] = frozenset()


def install_consumer(app: Any, inputs: Any) -> Transport:
    """Have `app` consume through the transport above; the records of the Faust topic
    `inputs` go one by one (as Faust's) to the streams over it."""
    transport = Transport(app.conf.broker_consumer, app)
    transport.input_topics = frozenset(inputs.topics)
    app.transport = transport
    return transport


def consume_fetches(app: Any, inputs: Any) -> Any:
    """Have `app` consume the Faust topic `inputs` a whole fetch at a time: the channel
    whose events are `Fetch`es (an agent over it processes them). A queue of up to
    FETCHES_AHEAD fetches lets the next ones come in while one is processed."""
    transport = install_consumer(app, inputs)
    app.topics.add(inputs)  # consumed through `transport`, not a stream of its own
    fetches = app.channel(maxsize=FETCHES_AHEAD)

    async def hand_over(fetch: Fetch) -> None:
        await fetches.send(value=fetch)

    transport.hand_over = hand_over
    return fetches
