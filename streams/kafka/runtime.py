"""The worker's engines, one per assigned partition, fed raw Kafka records.

No Kafka import here: the Faust adapter (streams.kafka.worker) hands over records
and a store; this module decides what each record does, what to send, what
to write and when a partition's watermark moves.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Final, cast

import msgspec

from streams.core.alerts import Alert
from streams.core.checkpoint import (
    add_facts,
    decode_facts,
    decode_seller,
    encode_facts,
    encode_seller,
    partition_state,
    restore_partition,
)
from streams.core.clock import iso_ms
from streams.core.events import decode_event, event_time_ms
from streams.core.facts import Facts
from streams.core.metrics import Kind
from streams.core.outputs import DeadLetter, SellerSnapshot, snapshot
from streams.core.partition import Offered, Partition
from streams.core.partitioner import partition_for
from streams.core.targets import TargetProfile
from streams.core.window import SellerState
from streams.errors import InvalidEvent
from streams.kafka.settings import EVICT_MODES

log = logging.getLogger("sellerperf.runtime")
SEP: Final = "\x1f"
"""Separates the parts of a table key (cannot occur in a seller id)."""
_FAR: Final = 2**62
_NEVER: Final = -(2**62)
SAVED_HOLD_MAX: Final = 1000
"""Up to this many held events are also saved with the partition state (well under a
Kafka message), so a restart has them even if an offset was committed past them;
beyond it, recovery relies on Kafka redelivering unacknowledged records."""
_json: Final = msgspec.json.Encoder()


def seller_key(seller_id: str) -> bytes:
    """Table key of a seller's own state."""
    return f"s{SEP}{seller_id}".encode()


def object_key(seller_id: str, kind: str, key: str) -> bytes:
    """Table key of one object's facts."""
    return f"o{SEP}{seller_id}{SEP}{kind}{SEP}{key}".encode()


def partition_key(partition: int) -> bytes:
    """Table key of a partition's own state."""
    return f"p{SEP}{partition}".encode()


def batch_key(partition: int) -> bytes:
    """Table key of the mark a partition writes before the rest of a batch's state."""
    return f"b{SEP}{partition}".encode()


class BatchMark(msgspec.Struct, frozen=True):
    """Where a partition stands at the end of a batch: written first (before the batch's
    objects and sellers) and again inside the partition state written last. A mark that
    differs from the saved state's means the batch's writes were cut short (a crash)."""

    positions: dict[str, int]
    """Per input topic, the next offset never taken."""
    released_ms: int
    """The release watermark."""


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed Kafka record."""

    topic: str
    """Source topic."""
    partition: int
    """Source partition."""
    offset: int
    """Source offset."""
    key: bytes | None
    """Message key (the seller id)."""
    value: bytes
    """Message value (one JSON event)."""
    handle: object = None
    """The consumer's handle on the record, handed back in `Outputs.ackable` once done."""


@dataclass(slots=True)
class Outputs:
    """What one batch produced."""

    alerts: list[Alert] = field(default_factory=list)
    """Alerts to publish."""
    snapshots: list[SellerSnapshot] = field(default_factory=list)
    """Seller snapshots to publish (compacted)."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    """Records that could not be used."""
    writes: dict[int, list[tuple[bytes, bytes | None]]] = field(default_factory=dict)
    """Per partition, table writes in order (None deletes); the partition state last."""
    events_total: int = 0
    """Valid events taken."""
    too_late: int = 0
    """Records dead-lettered as older than the correction horizon (not applied)."""
    corrections: int = 0
    """Late events (older than the partition's watermark) applied as corrections."""
    skipped_total: int = 0
    """Records already applied before a restart (skipped)."""
    offsets_skipped: int = 0
    """Input offsets jumped over: records after a partition's last one taken came first."""
    taken: dict[tuple[str, str], int] = field(default_factory=dict)
    """Valid events taken, by (topic, event type)."""
    ackable: list[object] = field(default_factory=list)
    """Handles of records fully dealt with (applied, dead-lettered or skipped) with no
    held record before them in their topic partition. A record whose event is still held
    back by the sequencer is not among them: unacknowledged, Kafka redelivers it after a
    crash, so held-back events need not be saved."""


class PartitionRuntime:
    """One partition: its pipeline plus where each input topic stands."""

    def __init__(self, part: Partition, topics: tuple[str, ...]) -> None:
        self.part = part
        self.topics = topics
        self.positions: dict[str, int] = {}
        """Per topic, the next offset never taken (saved: what came before was seen)."""
        self.live: dict[str, int] = {}
        """Per topic, the next offset to take since this runtime started (for catching up)."""
        self._held: dict[str, list[int]] = {}
        """Per topic, a heap of offsets held (some perhaps let go since: see _holding)."""
        self._holding: dict[str, set[int]] = {}
        """Per topic, the offsets whose events the sequencer still holds."""
        self._done: dict[str, list[tuple[int, int, object]]] = {}
        self.taken_at_s = 0.0
        """Clock reading (caller's) of the last batch that took records here."""
        self.snapshot_at_s = float("-inf")
        """Clock reading (caller's) when changed sellers' snapshots were last published."""
        self.topic_max_ms: dict[str, int] = {}
        """Per topic, the greatest event time seen."""
        self.retake: dict[str, int] = {}
        """After a restart, per topic, the position saved: events held back then (and not
        saved) are delivered again from `held_from`; until every topic is taken up to here
        again the watermark stays where it was, or they would arrive too late."""
        self.published: BatchMark | None = None
        """After a crash that cut a batch's state writes short: where that batch ended.
        Its outputs were published before any of its state was written, so what taking
        its records again yields up to there (dead letters of records before those
        positions, alerts as of before that watermark) is not published twice."""

    def hold(self, topic: str, offset: int) -> None:
        """A record's event went into the reorder buffer (a redelivered one may again)."""
        holding = self._holding.setdefault(topic, set())
        if offset not in holding:
            holding.add(offset)
            heapq.heappush(self._held.setdefault(topic, []), offset)

    def let_go(self, topic: str, offset: int) -> None:
        """A held record's event was released (or dropped as a duplicate)."""
        self._holding.get(topic, set()).discard(offset)

    def done(self, topic: str, offset: int, handle: object) -> None:
        """A record is dealt with; acknowledged once every record before it is too."""
        heapq.heappush(self._done.setdefault(topic, []), (offset, id(handle), handle))

    def ready_acks(self) -> list[object]:
        """Handles that may be acknowledged: done, and below every record still held.

        Acknowledging in offset order leaves Faust no gap to commit across (it commits
        past a gap of one unacknowledged record), so a held record is never skipped.
        """
        held = self.held_from()
        out = []
        for topic, heap in self._done.items():
            limit = held.get(topic)
            while heap and (limit is None or heap[0][0] < limit):
                out.append(heapq.heappop(heap)[2])
        return out

    def acks_waiting(self) -> int:
        """Records done but not yet acknowledged (a held record comes before them)."""
        return sum(len(heap) for heap in self._done.values())

    def held_from(self) -> dict[str, int]:
        """Per topic, the lowest offset whose event is still held back."""
        out = {}
        for topic, held in self._held.items():
            holding = self._holding.get(topic, set())
            while held and held[0] not in holding:  # let go since: amortised O(log n)
                heapq.heappop(held)
            if held:
                out[topic] = held[0]
        return out

    def ahead(self, caught_up: Callable[[str], bool]) -> tuple[list[str], list[str]]:
        """(ahead, slowest): topics read further in event time than the slowest topic that
        still has a backlog, and that slowest one (it holds the watermark back)."""
        behind = [t for t in self.topics if not caught_up(t)]
        if not behind:
            return [], []
        slowest = min(behind, key=lambda t: self.topic_max_ms.get(t, -_FAR))
        floor = self.topic_max_ms.get(slowest, -_FAR)
        return [t for t in self.topics if self.topic_max_ms.get(t, -_FAR) > floor], [slowest]

    def watermark(self, caught_up: Callable[[str], bool]) -> int:
        """Newest event time minus lateness, held back by any topic that still has a backlog
        (and not moved at all while what was held back before a restart is taken again)."""
        part = self.part
        if self.retake:
            if any(self.live.get(t, 0) < at for t, at in self.retake.items()):
                return part.sequencer.released_ms
            self.retake = {}
        limit = part.sequencer.max_seen_ms
        for topic in self.topics:
            if not caught_up(topic):
                limit = min(limit, self.topic_max_ms.get(topic, -_FAR))
        return limit - part.allowed_lateness_ms


def read_to_end(position: int, end: int | None, polled_ms: int | None,
                newest_ms: int) -> bool:
    """Whether an input topic partition has been read to its end, as far as the records
    taken from the partition's other topics can tell.

    The consumer learns a partition's end offset (`end`, its high watermark) with each
    fetch response that includes the partition (`polled_ms`, wall clock), and leaves a
    partition whose fetched records are still waiting out of fetches: once those are
    taken, its known end can be older than records of other topics taken meanwhile. So
    the end counts only if it was learned after the newest record taken in the partition
    was created (`newest_ms`, the records' Kafka timestamps).
    """
    return (end is not None and position >= end and polled_ms is not None
            and polled_ms >= newest_ms)


class Runtime:
    """All assigned partitions of one worker."""

    def __init__(self, profile: TargetProfile, allowed_lateness_ms: int, partitions: int,
                 topics: tuple[str, ...], snapshot_interval_s: float = 0.0,
                 snapshot_backlog_interval_s: float | None = None,
                 evict: str = "all", max_future_skew_ms: int = 300_000,
                 live_window_ms: int = 86_400_000) -> None:
        self.profile = profile
        if evict not in EVICT_MODES:
            raise ValueError(f"evict: got {evict!r}; expected one of {EVICT_MODES}")
        self.evict = evict
        """Which objects leave memory after each batch, to be read back from the store when
        needed (Engine.evict): "settled" (waiting for no deadline), "all" or "none"."""
        self.snapshot_interval_s = snapshot_interval_s
        self.snapshot_backlog_interval_s = (snapshot_interval_s
                                            if snapshot_backlog_interval_s is None
                                            else snapshot_backlog_interval_s)
        self.allowed_lateness_ms = allowed_lateness_ms
        self.max_future_skew_ms = max_future_skew_ms
        """An event more than this ahead of the wall clock is dead-lettered as `future`."""
        self.live_window_ms = live_window_ms
        """The data is live when the newest event seen is within this of the wall clock:
        then caught-up partitions follow the wall clock (`tick`)."""
        self.partitions_total = partitions
        self.topics = topics
        self.active: dict[int, PartitionRuntime] = {}
        """The partitions restored (ready): their engines answer the view."""
        self.assigned: set[int] = set()
        """The partitions of the latest assignment (restoring until in `active`)."""
        self._max_event_ms: int | None = None
        """Events after this (the wall clock plus the allowed skew) are `future`."""

    def assign(self, partitions: set[int]) -> None:
        """A new assignment: these partitions are restored next (see `restoring`)."""
        self.assigned = set(partitions)

    def restoring(self) -> set[int]:
        """Assigned partitions not restored yet (their table may still be recovering)."""
        return self.assigned - self.active.keys()

    def partition_states(self) -> dict[int, str]:
        """Per assigned (or still held) partition: "restoring" or "ready"."""
        return {p: "ready" if p in self.active else "restoring"
                for p in sorted(self.assigned | self.active.keys())}

    def ensure(self, partition: int, store: Mapping[bytes, bytes]) -> PartitionRuntime:
        """The runtime of a partition, restored from the store the first time."""
        pr = self.active.get(partition)
        if pr is None:
            pr = self.active[partition] = self._restore(partition, store)
        elif self.evict != "none":
            pr.part.engine.cold = partial(_load_facts, store)  # the store of now
        return pr

    def drop(self, partition: int) -> None:
        """Forget a partition that moved to another worker."""
        self.active.pop(partition, None)
        self.assigned.discard(partition)

    def _restore(self, partition: int, store: Mapping[bytes, bytes]) -> PartitionRuntime:
        n_slots = len({e.metric for e in self.profile.entries})
        n_entries = len(self.profile.entries)
        statuses: dict[str, SellerState] = {}
        for raw_key, blob in store.items():
            if raw_key.startswith(_SELLER_TAG):
                seller_id = raw_key[len(_SELLER_TAG):].decode()
                if partition_for(seller_id, self.partitions_total) == partition:
                    statuses[seller_id] = decode_seller(blob)
        counted = [0, 0]

        def sellers() -> Iterator[SellerState]:
            """Each seller with its objects, one at a time (the engine may evict some before
            the next is read)."""
            for seller_id, objects in _objects_by_seller(store, partition,
                                                         self.partitions_total):
                seller = statuses.pop(seller_id, None)
                if seller is None:  # objects whose seller never changed a bucket
                    seller = SellerState(seller_id, n_slots, n_entries)
                for kind, blob in objects:
                    add_facts(seller, kind, decode_facts(kind, blob))
                counted[0] += 1
                counted[1] += len(objects)
                yield seller
            counted[0] += len(statuses)
            yield from statuses.values()  # sellers with no open object

        part = Partition(self.profile, self.allowed_lateness_ms)
        part.engine.track_writes = True
        if self.evict != "none":
            part.engine.cold = partial(_load_facts, store)
            part.engine.evict_waiting = self.evict == "all"
        state = restore_partition(part, store.get(partition_key(partition)), sellers())
        pr = PartitionRuntime(part, self.topics)
        held = sum(s.held_objects() for s in part.engine.sellers.values())
        log.info("Partition %d restored: %d sellers, %d objects (%d of them held in memory, "
                 "the others left in the store), positions %s", partition, counted[0],
                 counted[1], held, state.positions if state else {})
        if state is not None:
            pr.positions = dict(state.positions)
            pr.topic_max_ms = dict(state.topic_max_ms)
            # Records from the first one held back are delivered again (never acknowledged):
            # the topic is not caught up until they have been taken again.
            pr.live = {**state.positions, **state.held_from}
            if state.held_from and not state.pending:
                pr.retake = dict(state.positions)
            mark_blob = store.get(batch_key(partition))
            if mark_blob is not None:
                mark = msgspec.msgpack.decode(mark_blob, type=BatchMark)
                if mark != BatchMark(state.positions, state.released_ms):
                    log.warning("Partition %d: the last batch's state was cut short; "
                                "taking its records again without publishing twice",
                                partition)
                    pr.published = mark
        return pr

    def process(self, records: list[Record], stores: Callable[[int], Mapping[bytes, bytes]],
                caught_up: Callable[[str, int], bool], now_s: float = 0.0,
                wall_ms: int | None = None) -> Outputs:
        """Take a batch of records; everything to send and write for it. `stores` gives
        the saved state of a partition (it may hold other partitions' keys too); `wall_ms`
        is the wall clock, for the guard against events from the future (None: no guard)."""
        out = Outputs()
        self._max_event_ms = None if wall_ms is None else wall_ms + self.max_future_skew_ms
        by_partition: dict[int, list[Record]] = {}
        for record in records:
            by_partition.setdefault(record.partition, []).append(record)
        for partition, batch in sorted(by_partition.items()):
            pr = self.ensure(partition, stores(partition))
            pr.taken_at_s = now_s
            for record in batch:
                self._take(pr, record, out)
            wm = pr.watermark(partial(_flip, caught_up, partition))
            out.alerts += _unpublished(pr, pr.part.drain(wm))
            self._released(pr, out)
            behind = not all(caught_up(topic, partition) for topic in self.topics)
            self._collect(partition, pr, out, now_s, behind)
        return out

    def newest_ms(self) -> int:
        """The greatest event time seen on any of this worker's partitions."""
        return max((pr.part.sequencer.max_seen_ms for pr in self.active.values()),
                   default=_NEVER)

    def tick(self, caught_up: Callable[[str, int], bool], now_s: float, idle_s: float,
             wall_ms: int | None = None) -> Outputs:
        """Move the clock of every partition whose inputs are all read to their end to the
        worker's clock (docs/semantics.md, "Time"): the newest event time seen on any
        partition less the lateness and, when the data is live, the wall clock less the
        lateness, so a quiet partition's deadlines fire on time. Data that is not live (a
        backlog, a backfill) has no wall clock: a partition that took nothing for `idle_s`
        applies what it still holds back (the idle flush); an event within the lateness
        arriving after that is applied as a correction, never lost."""
        out = Outputs()
        lateness = self.allowed_lateness_ms
        newest = self.newest_ms()
        if newest == _NEVER:
            return out
        live = wall_ms is not None and newest >= wall_ms - self.live_window_ms
        for partition, pr in sorted(self.active.items()):
            if pr.retake or not all(caught_up(topic, partition) for topic in self.topics):
                continue
            part = pr.part
            idle = now_s - pr.taken_at_s >= idle_s
            flushed = False
            if live:
                assert wall_ms is not None
                alerts = part.drain(max(newest, wall_ms) - lateness)
            elif idle and (part.pending or part.engine.clock_ms < newest):
                if part.pending:
                    log.info("Partition %d idle for %.1f s with every input read: applying "
                             "the %d events held back", partition, now_s - pr.taken_at_s,
                             part.pending)
                alerts = part.flush(newest)
                flushed = True
            else:
                alerts = part.drain(newest - lateness)
            out.alerts += _unpublished(pr, alerts)
            self._released(pr, out)
            engine = part.engine
            if flushed or alerts or engine.dirty_objects or engine.dirty_sellers:
                self._collect(partition, pr, out)
            elif engine.changed and idle:
                self._collect(partition, pr, out, now_s)
        return out

    def _released(self, pr: PartitionRuntime, out: Outputs) -> None:
        for tag in pr.part.sequencer.take_released_tags():
            topic, offset, handle = cast("tuple[str, int, object]", tag)  # no alias built
            pr.let_go(topic, offset)
            pr.done(topic, offset, handle)
        out.ackable += pr.ready_acks()

    def _take(self, pr: PartitionRuntime, record: Record, out: Outputs) -> None:
        # Taken before a restart: applied, dead-lettered or held back. The saved release
        # watermark tells which: only the held-back ones are taken again.
        position = pr.positions.get(record.topic)
        seen = position is not None and record.offset < position
        if not seen:
            if position is not None and record.offset > position:
                # Offsets never delivered: transaction markers or compaction, or records
                # lost on the way (a consumer bug: they would never be counted).
                out.offsets_skipped += record.offset - position
                log.warning("%s[%d]: offsets %d..%d were never delivered", record.topic,
                            record.partition, position, record.offset - 1)
            pr.positions[record.topic] = record.offset + 1
        if record.offset >= pr.live.get(record.topic, 0):
            pr.live[record.topic] = record.offset + 1
        if pr.published is not None and not seen:
            # Taken before the crash in the batch whose state was cut short.
            seen = record.offset < pr.published.positions.get(record.topic, 0)
        try:
            event = decode_event(record.value)
            reason = _key_problem(record.key, event.seller_id)
        except InvalidEvent as exc:
            if not seen:
                out.dead_letters.append(_dead(record, exc.reason, exc.message, exc.field))
            pr.done(record.topic, record.offset, record.handle)
            return
        if reason:
            if not seen:
                out.dead_letters.append(_dead(record, reason[0], reason[1], "seller_id"))
            pr.done(record.topic, record.offset, record.handle)
            return
        t = event_time_ms(event)
        if self._max_event_ms is not None and t > self._max_event_ms:
            if not seen:
                out.dead_letters.append(_dead(
                    record, "future",
                    f"event_time {event.event_time.isoformat()} is more than "
                    f"{self.max_future_skew_ms} ms ahead of the wall clock "
                    f"{iso_ms(self._max_event_ms - self.max_future_skew_ms)}; expected a "
                    "time not in the future (a producer's clock?)", "event_time"))
            pr.done(record.topic, record.offset, record.handle)
            return
        if seen and t < pr.part.sequencer.released_ms:
            out.skipped_total += 1
            pr.done(record.topic, record.offset, record.handle)
            return
        out.events_total += 1
        kind = (record.topic, str(event.__struct_config__.tag))
        out.taken[kind] = out.taken.get(kind, 0) + 1
        if t > pr.topic_max_ms.get(record.topic, -_FAR):
            pr.topic_max_ms[record.topic] = t
        offered = pr.part.offer(event, (record.topic, record.offset, record.handle))
        if offered is Offered.HELD:
            pr.hold(record.topic, record.offset)
            return
        pr.done(record.topic, record.offset, record.handle)
        if offered is Offered.CORRECTED:
            if not out.corrections:
                log.info("Late: %s[%d]@%d event time %s < released %s: applied as a "
                         "correction", record.topic, record.partition, record.offset,
                         iso_ms(t), iso_ms(pr.part.sequencer.released_ms))
            out.corrections += 1
            return
        out.too_late += 1
        out.dead_letters.append(_dead(
            record, "too_late",
            f"event_time {event.event_time.isoformat()} is more than "
            f"{pr.part.max_correction_ms // 86_400_000} days behind the partition's clock "
            f"{iso_ms(pr.part.engine.clock_ms)}: too late to correct (the objects it "
            "belongs to may be gone)", "event_time"))

    def _collect(self, partition: int, pr: PartitionRuntime, out: Outputs,
                 now_s: float | None = None, behind: bool = False) -> None:
        engine = pr.part.engine
        # Snapshots of changed sellers at most every `snapshot_interval_s` per partition
        # (`snapshot_backlog_interval_s` while an input has a backlog): catching up changes
        # most sellers every batch, and a compacted topic keeps only the last anyway.
        interval = self.snapshot_backlog_interval_s if behind else self.snapshot_interval_s
        if now_s is None or now_s - pr.snapshot_at_s >= interval:
            pr.snapshot_at_s = now_s or 0.0
            for seller_id in sorted(engine.take_changed()):
                snap = snapshot(engine, seller_id)
                if snap is not None:
                    out.snapshots.append(snap)
        writes = out.writes.setdefault(partition, [])
        # First the mark of where this batch ends, last the partition state: a crash in
        # between leaves them different (see PartitionRuntime.published).
        mark = BatchMark(dict(pr.positions), pr.part.sequencer.released_ms)
        writes.append((batch_key(partition), msgspec.msgpack.encode(mark)))
        for (seller_id, kind, key), facts in engine.dirty_objects.items():
            writes.append((object_key(seller_id, kind, key),
                           None if facts is None else encode_facts(facts)))
        for seller_id in sorted(engine.dirty_sellers):
            seller = engine.sellers.get(seller_id)
            blob = None if seller is None else encode_seller(seller)  # None: forgotten
            writes.append((seller_key(seller_id), blob))
        if engine.cold is not None:  # written above, so they can be read back
            engine.evict_written(waiting=self.evict == "all")
        engine.dirty_objects.clear()
        engine.dirty_sellers.clear()
        writes.append((partition_key(partition),
                       partition_state(pr.part, pr.positions, pr.topic_max_ms,
                                       include_pending=pr.part.pending <= SAVED_HOLD_MAX,
                                       held_from=pr.held_from())))

    def flow(self, caught_up: Callable[[str, int], bool], max_pending: int) -> tuple[
        set[tuple[str, int]], set[tuple[str, int]]
    ]:
        """(pause, resume): stop reading topics that run ahead while too much is held back.

        One input topic read much faster than another (a backlog, small records) would
        otherwise fill the reorder buffer with everything it holds.
        """
        pause: set[tuple[str, int]] = set()
        resume: set[tuple[str, int]] = set()
        for partition, pr in self.active.items():
            ahead, slowest = pr.ahead(partial(_flip, caught_up, partition))
            if pr.part.pending > max_pending:
                pause.update((t, partition) for t in ahead)
                # Never the one holding the watermark back: it must read on, or nothing
                # held would ever be released.
                resume.update((t, partition) for t in slowest)
            elif pr.part.pending < max_pending // 2 or not slowest:
                resume.update((t, partition) for t in self.topics)
            else:
                resume.update((t, partition) for t in slowest)
        return pause, resume

    def view(self, seller_id: str) -> SellerSnapshot | None:
        """The seller's current rates, if one of this worker's partitions holds it."""
        pr = self.active.get(partition_for(seller_id, self.partitions_total))
        return None if pr is None else snapshot(pr.part.engine, seller_id)

    def iter_partitions(self) -> Iterator[tuple[int, PartitionRuntime]]:
        """The partitions held, by number."""
        yield from sorted(self.active.items())


def _unpublished(pr: PartitionRuntime, alerts: list[Alert]) -> list[Alert]:
    """Alerts less those published before a crash (see PartitionRuntime.published)."""
    if pr.published is None or not alerts:
        return alerts
    before = iso_ms(pr.published.released_ms)
    # Every alert of a batch is as of an event time below the watermark it released to,
    # and at or above the one before it (RFC 3339 UTC with ms sorts as time does).
    return [a for a in alerts if a.as_of >= before]


def _flip(caught_up: Callable[[str, int], bool], partition: int, topic: str) -> bool:
    return caught_up(topic, partition)


_SELLER_TAG: Final = f"s{SEP}".encode()
_OBJECT_TAG: Final = f"o{SEP}".encode()


def _objects_by_seller(store: Mapping[bytes, bytes], partition: int, partitions: int) -> (
    Iterator[tuple[str, list[tuple[str, bytes]]]]
):
    """(seller id, [(kind, saved facts)]) of the partition's sellers with objects, one
    seller at a time. A RocksDB database iterates in key order, so a seller's objects
    come together; a dict (memory://, already all in memory) is sorted first."""
    items: Iterable[tuple[bytes, bytes]] = (
        ((key, store[key]) for key in sorted(store)) if isinstance(store, dict)
        else store.items())
    current: str | None = None
    objects: list[tuple[str, bytes]] = []
    previous = b""
    mine = False
    for raw_key, blob in items:
        if not raw_key.startswith(_OBJECT_TAG):
            continue
        if raw_key < previous:
            raise RuntimeError(f"the store does not iterate in key order ({raw_key!r} after "
                               f"{previous!r}): a seller's objects must come together")
        previous = raw_key
        seller_id, kind, _ = raw_key[len(_OBJECT_TAG):].decode().split(SEP, 2)
        if seller_id != current:
            if current is not None and objects:
                yield current, objects
            current, objects = seller_id, []
            mine = partition_for(seller_id, partitions) == partition
        if mine:
            objects.append((kind, blob))
    if current is not None and objects:
        yield current, objects


def _load_facts(store: Mapping[bytes, bytes], seller_id: str, kind: Kind,
                key: str) -> Facts | None:
    """An object's facts as last written to the store, if there."""
    blob = store.get(object_key(seller_id, kind, key))
    return None if blob is None else decode_facts(kind, blob)


def _key_problem(key: bytes | None, seller_id: str) -> tuple[str, str] | None:
    if not key:
        return ("missing_key", f"the message has no key; expected the seller id {seller_id!r}")
    if key != seller_id.encode():
        shown = key.decode("utf-8", "replace")
        return ("key_mismatch",
                f"the message key {shown!r} differs from field `seller_id` {seller_id!r}")
    return None


def _dead(record: Record, reason: str, error: str, field_name: str | None) -> DeadLetter:
    """A dead letter with the whole original value: the worker fits it to its setting
    (DeadLetter.fitted) before publishing."""
    return DeadLetter.of(record.value, reason, error, field_name,  # type: ignore[arg-type]
                         record.topic, record.partition, record.offset, record.key,
                         max_value_bytes=None)


def encode_json(value: object) -> bytes:
    """The wire form of an output record."""
    return _json.encode(value)
