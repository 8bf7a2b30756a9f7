"""The Faust adapter: topics, one agent over the four inputs, the state table, the web view."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, NoReturn, cast

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry

from streams.core.partitioner import partition_for
from streams.core.targets import load_profile
from streams.kafka import web
from streams.kafka.client import committed_offsets
from streams.kafka.fetching import Acked, Fetch, consume_fetches, install_consumer
from streams.kafka.memory import can_release, release_free_memory
from streams.kafka.observability import BrokerOutages, PopulationCollector, WorkerMetrics
from streams.kafka.runtime import Outputs, Record, Runtime, encode_json, read_to_end
from streams.kafka.settings import Settings, fail_stage

log = logging.getLogger("sellerperf.worker")
ROCKSDB_OPTIONS: dict[str, int] = {
    # Per partition database. Faust's defaults (3 x 64 MiB memtables, a 2 GiB block cache)
    # hold up to 192 MiB of recent writes in memory per partition; the state lives in
    # Python objects and is read from RocksDB only on a restore, so a little will do.
    "write_buffer_size": 8 * 2**20,
    "max_write_buffer_number": 2,
    "block_cache_size": 16 * 2**20,
}
"""Options of the table's RocksDB store (ignored by memory://)."""
EXIT_BATCH_FAILED: Final = 70
"""Exit status after a failure in the batch path (EX_SOFTWARE): restart from the
committed state (see `_stop`)."""


class InjectedFailure(RuntimeError):
    """A failure SELLERPERF_FAIL_AT asked for (tests only)."""


class Faults:
    """Test-only failure injection: the n-th batch to reach a stage fails there."""

    def __init__(self, spec: tuple[str, int] | None) -> None:
        self.spec = spec
        self.reached = 0

    def check(self, stage: str) -> None:
        """Raise InjectedFailure if this is the stage and the count asked for."""
        if self.spec is None or self.spec[0] != stage:
            return
        self.reached += 1
        if self.reached == self.spec[1]:
            raise InjectedFailure(f"SELLERPERF_FAIL_AT={stage}:{self.reached}")


def _stop(exc: BaseException, where: str) -> NoReturn:
    """End the process at once after a failure between taking a batch and acknowledging it.

    Crash-only: the engines in memory may hold the failed batch's effects, unpublished or
    unsaved, so nothing may go on from here; and Faust commits the first unbroken run of
    acknowledged offsets without checking that it starts at the committed one, so a
    batch left unacknowledged while later ones are acknowledged would be committed over
    (its agent supervisor restarts a crashed agent and reading goes on). `os._exit` runs
    no shutdown, hence no further commit: the next start (the process supervisor's
    restart) takes every record after the last commit again, as after a kill -9, and
    the restore (Runtime._restore, BatchMark) neither loses nor double counts them.
    """
    log.critical("Exiting (status %d) to restart from the committed state: %s failed "
                 "with %s: %s", EXIT_BATCH_FAILED, where, type(exc).__name__, exc)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_BATCH_FAILED)


async def _crash_only(where: str, step: Callable[[], Awaitable[None]]) -> None:
    """Run a step of the batch path; any exception ends the process (see `_stop`)."""
    try:
        await step()
    except Exception as exc:  # whatever it is, the batch is unfinished
        _stop(exc, where)


def _credentials(settings: Settings) -> Any:
    import ssl

    from streams.kafka.security import check_login_now, client_options

    options = client_options(settings)
    if not options:
        return None
    # Tried once before Faust starts: a refused login is then one line, not a traceback.
    check_login_now(settings)
    context = cast("ssl.SSLContext | None", options.get("ssl_context"))
    if settings.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username, password=settings.sasl_password,
            mechanism=settings.sasl_mechanism, ssl_context=context)
    return faust.SSLCredentials(context)


def create_app(settings: Settings) -> faust.App:
    """A Faust app wired to the engine runtime."""
    profile = load_profile(settings.target_profile)
    fetching = settings.consume == "fetch"
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{s.strip()}" for s in settings.bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.standby_replicas,
        web_host=settings.web_host,
        web_bind=settings.web_bind or settings.web_host,
        web_port=settings.web_port,
        canonical_url=f"http://{settings.web_host}:{settings.web_port}",
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # State, alerts and snapshots go out as whole Kafka batches (see StateWriter).
        producer_max_batch_size=256 * 1024,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        # consume=fetch: the most records one fetch hands over (streams.kafka.fetching).
        broker_max_poll_records=settings.batch_size if fetching else None,
        stream_buffer_maxsize=settings.batch_size * 2,
        web_in_thread=False,
        # Events held back by the lateness are unacknowledged on purpose; Faust must not
        # wait for them to be acknowledged before a rebalance or a shutdown (the next
        # owner gets them again from Kafka).
        stream_wait_empty=False,
    )
    inputs = app.topic(*settings.input_topics, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    # bytes keys and values: Faust then uses the raw codec for the table and its changelog.
    table = app.Table("state", key_type=bytes, value_type=bytes, partitions=settings.partitions,
                      options=ROCKSDB_OPTIONS)
    faults = Faults(fail_stage(settings.fail_at))
    state = StateWriter(app, table, faults)
    guard_changelog_offsets(app)
    runtime = Runtime(profile, settings.allowed_lateness_ms, settings.partitions,
                      settings.input_topics, settings.snapshot_interval_s,
                      settings.snapshot_backlog_interval_s, settings.evict,
                      max_future_skew_ms=int(settings.max_future_skew_s * 1000),
                      live_window_ms=int(settings.live_window_s * 1000))
    registry = CollectorRegistry()
    metrics_out = WorkerMetrics(registry)
    registry.register(PopulationCollector(runtime))
    outages = BrokerOutages(registry, log)
    outages.install()
    app.sellerperf_runtime = runtime  # type: ignore[attr-defined]

    newest_ms: dict[int, int] = {}
    """Per input partition, the newest Kafka timestamp of the records taken."""

    def caught_up(topic: str, partition: int) -> bool:
        """Whether everything in the topic partition known to the broker has been taken."""
        pr = runtime.active.get(partition)
        position = pr.live.get(topic, 0) if pr else 0
        tp = TP(topic, partition)
        try:
            highwater = app.consumer.highwater(tp)
            polled = _kafka_consumer(app).last_poll_timestamp(tp)
        except Exception:  # consumer not ready, partition not assigned: assume a backlog
            return False
        # Unknown until the first fetch of that partition: hold the watermark back till then.
        return read_to_end(position, highwater, polled, newest_ms.get(partition, 0))

    assigned_in = [-1]
    """The rebalance (Faust's count) whose assignment this worker last received (-1: none
    yet)."""

    def revoking() -> bool:
        """Whether a rebalance has started and its new assignment has not come yet."""
        return bool(app.rebalancing) and assigned_in[0] != app.rebalancing_count

    async def on_assigned(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        assigned_in[0] = app.rebalancing_count
        runtime.assign({tp.partition for tp in assigned if tp.topic in settings.input_topics})

    app.on_partitions_assigned.connect(cast(Any, on_assigned))

    lock = asyncio.Lock()  # a batch and an idle flush never interleave their writes

    async def on_recovered(sender: Any, **kwargs: Any) -> None:
        """The tables are recovered from their changelogs (Faust sends this before it
        resumes the input partitions): restore every assigned partition's engine now, so
        the view answers for its sellers before any new record comes.

        Faust also sends it when a recovery ends that a newer rebalance cut short, with the
        tables not yet caught up: a partition whose saved positions are behind the group's
        committed offsets (work committed, so written, that the store does not show yet)
        is let go again, and restored on its first record, which comes only after the
        current recovery (taking it now would skip every record in between)."""
        async with lock:  # after a batch in flight has written its state
            todo = sorted(runtime.restoring())
            if revoking() or not todo:
                return
            try:
                committed = await asyncio.wait_for(committed_offsets(settings), 10.0)
            except Exception as exc:  # the broker may be busy: the first record will do
                log.warning("Partitions %s restored on their first record: could not read "
                            "the committed offsets (%s: %s)", todo, type(exc).__name__, exc)
                return
            for partition in todo:
                pr = runtime.ensure(partition, state.saved(partition))
                behind = {topic: (pr.positions.get(topic, 0), committed[(topic, partition)])
                          for topic in settings.input_topics
                          if committed.get((topic, partition), 0) > pr.positions.get(topic, 0)}
                if behind:
                    log.info("Partition %d: the store is behind the committed offsets "
                             "(saved, committed: %s), its recovery is not over: restored on "
                             "its first record", partition, behind)
                    runtime.drop(partition)

    app.on_rebalance_complete.connect(cast(Any, on_recovered))
    paused: set[tuple[str, int]] = set()

    def regulate() -> None:
        """Pause topics read too far ahead, resume the rest (see Runtime.flow)."""
        pause, resume = runtime.flow(caught_up, settings.max_pending)
        now = _flow(app, pause, resume, paused)
        paused.clear()
        paused.update(now)

    async def finish(out: Outputs, batch: list[Any]) -> tuple[float, float]:
        """Publish outputs, then write state, then acknowledge what is done; the seconds
        publishing and writing state took."""
        # A rebalance can revoke a partition while this awaits: its state then belongs to
        # the next owner, who restores it from the changelog and takes the unacknowledged
        # records again. Nothing more is written or held for it here.
        started = time.perf_counter()
        owners = {p: runtime.active.get(p) for p in out.writes}
        kafka = _producer(app)
        n = settings.partitions
        sends = []
        for topic, keyed in (
            (settings.topic_alerts, [(a.seller_id, encode_json(a)) for a in out.alerts]),
            (settings.topic_metrics, [(s.seller_id, encode_json(s)) for s in out.snapshots]),
        ):
            for partition, records in _by_partition(keyed, n).items():
                sends += [f for f, _ in await _send_bulk(kafka, topic, partition, records)]
            if topic == settings.topic_alerts:
                await asyncio.gather(*sends)
                faults.check("publish")  # after the alerts, before the rest
        letters: dict[int, list[tuple[bytes | None, bytes]]] = {}
        for d in out.dead_letters:
            partition = partition_for(d.key, n) if d.key else (d.partition or 0) % n
            letters.setdefault(partition, []).append(
                (d.key.encode() if d.key else None,
                 encode_json(d.fitted(settings.dead_letter_max_value_bytes))))
        for partition, records in letters.items():
            sends += [f for f, _ in await _send_bulk(kafka, settings.topic_dead_letters,
                                                     partition, records)]
        # Outputs are on the broker before the state that says they were made is written.
        await asyncio.gather(*sends)
        published = time.perf_counter()
        # Between a rebalance's start and the new assignment nothing more is written: what
        # a revoked partition's next owner restores must not change under it (it takes the
        # unacknowledged records again).
        kept = set() if revoking() else {
            p for p, pr in owners.items() if pr is not None and runtime.active.get(p) is pr}
        await state.write({p: w for p, w in out.writes.items() if p in kept})
        took = (published - started, time.perf_counter() - published)
        # An event still held back stays unacknowledged until released (maybe in a later
        # batch), so that Faust commits no offset past it and Kafka delivers it again after
        # a crash. Records of a partition revoked meanwhile are never acknowledged here:
        # Faust would count a stale acknowledgement towards the next assignment's commit,
        # past records that assignment may still hold back.
        if fetching:
            # Nor after a rebalance began while the state was being written: Faust
            # commits the first unbroken run of acknowledged offsets.
            still = set() if revoking() else {
                p for p in kept if runtime.active.get(p) is owners[p]}
            ack = app.consumer.ack
            for i, handle in enumerate(cast(list[Acked], out.ackable)):
                if i == len(out.ackable) // 2:
                    faults.check("ack")  # half of them acknowledged
                if handle.tp.partition in still:
                    ack(handle)  # type: ignore[arg-type]
            if not out.ackable:
                faults.check("ack")
            return took
        faults.check("ack")
        # take_events acknowledges the whole batch when this iteration ends: one more
        # reference keeps a held event unacknowledged; its release drops that reference.
        done = {id(h) for h in out.ackable}
        for event in batch:
            if id(event) not in done or event.message.partition not in kept:
                event.message.incref()
        in_batch = {id(e) for e in batch}
        for h in out.ackable:
            released = cast("faust.EventT[Any]", h)
            if id(h) not in in_batch and released.message.partition in kept:
                released.ack()
        return took

    async def take(fetch: Fetch) -> None:
        """Process one fetch of input records."""
        started = time.perf_counter()
        # Records fetched before the latest rebalance are delivered again from the
        # committed offsets (to whoever owns their partition now): taken here as well,
        # they would come ahead of the records before them, which would then look
        # already seen.
        # Nor is anything taken between a rebalance's start and the new assignment: a
        # partition restored then would start from a store about to be rebuilt.
        stale = revoking() or fetch.generation != app.consumer_generation_id
        assigned = set() if stale else app.consumer.assignment()
        records: list[Record] = []
        for tp, batch in fetch.records.items():
            saw(tp.partition, max(r.timestamp for r in batch))
            if tp in assigned:
                records += [Record(tp.topic, tp.partition, r.offset, r.key, r.value,
                                   Acked(tp, r.offset)) for r in batch]
        await apply(records, len(fetch), [], started)

    async def take_events(events: list[Any]) -> None:
        """Process one batch of Faust stream events."""
        started = time.perf_counter()
        # As in `take`: nothing from before the latest rebalance, nothing during one.
        # (Records of the new assignment flow only once its tables are recovered, and are
        # not delivered again: they must not be left.)
        assigned = set() if revoking() else app.consumer.assignment()
        generation = app.consumer_generation_id
        records = [Record(e.message.topic, e.message.partition, e.message.offset,
                          e.message.key, e.message.value, e) for e in events
                   if e.message.tp in assigned and e.message.generation_id == generation]
        for e in events:
            saw(e.message.partition, int((e.message.timestamp or 0) * 1000))
        await apply(records, len(events), events, started)

    def saw(partition: int, stamp_ms: int) -> None:
        """Note the Kafka timestamp of records taken from an input partition."""
        if stamp_ms > newest_ms.get(partition, 0):
            newest_ms[partition] = stamp_ms

    async def apply(records: list[Record], fetched: int, events: list[Any],
                    started: float) -> None:
        """Process the records kept of `fetched`, publish, write, acknowledge."""
        if len(records) < fetched:
            log.info("Left %d records fetched before the rebalance to be delivered again",
                     fetched - len(records))
        async with lock:
            computing = time.perf_counter()
            out = runtime.process(records, state.saved, caught_up, time.monotonic(),
                                  int(time.time() * 1000))
            faults.check("compute")
            computed = time.perf_counter() - computing
            published, stored = await finish(out, events)
        regulate()
        metrics_out.observe(out, len(records), time.perf_counter() - started,
                            (computed, published, stored))

    if fetching:
        @app.agent(consume_fetches(app, inputs))
        async def process(stream: Any) -> None:
            async for fetch in stream:
                await _crash_only("a batch", lambda: take(fetch))  # noqa: B023 - awaited here
    else:
        install_consumer(app, inputs)  # Faust's per-record delivery, without its losses

        @app.agent(inputs)
        async def process(stream: Any) -> None:
            async for events in stream.noack().take_events(settings.batch_size,
                                                            within=settings.batch_within_s):
                await _crash_only("a batch",
                                  lambda: take_events(events))  # noqa: B023 - awaited here

    async def flush_idle_step() -> None:
        """At the end of a burst, apply what the lateness still holds back."""
        if revoking():
            return
        async with lock:
            computing = time.perf_counter()
            out = runtime.tick(caught_up, time.monotonic(), settings.idle_flush_s,
                               int(time.time() * 1000))
            computed = time.perf_counter() - computing
            if out.writes:
                metrics_out.observe(out, 0, 0.0, (computed, *await finish(out, [])))
        regulate()  # also when no batch comes: a paused topic may be all that is left

    async def flush_idle() -> None:
        await _crash_only("an idle flush", flush_idle_step)

    app.timer(interval=1.0)(flush_idle)

    async def probe_broker() -> None:
        """During a broker outage, whether the broker answers again (see BrokerOutages)."""
        if not outages.active:
            return
        try:
            await asyncio.wait_for(_producer(app).client.fetch_all_metadata(), timeout=5.0)
        except Exception:  # still unreachable (the client's errors are counted, not logged)
            return
        outages.answered()

    app.timer(interval=1.0)(probe_broker)

    async def trim_memory() -> None:
        """Hand freed memory back (a backlog read leaves glibc's heaps at their peak)."""
        took = release_free_memory()
        if took is not None and took > 0.05:
            log.info("Handing freed memory back to the OS took %.0f ms", took * 1000)

    if settings.trim_interval_s > 0 and can_release():
        app.timer(interval=settings.trim_interval_s)(trim_memory)

    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        """Partitions moved away: their state lives on in the changelog, not here."""
        for tp in revoked:
            if tp.topic in settings.input_topics:
                runtime.drop(tp.partition)
        paused.clear()  # a new assignment starts unpaused

    app.on_partitions_revoked.connect(cast(Any, on_revoked))

    def assigned_inputs() -> set[int] | None:
        """The input partitions assigned to this worker; None before its first assignment
        and from a rebalance's start to its assignment."""
        if assigned_in[0] != app.rebalancing_count:
            return None
        return set(runtime.assigned)

    web.install(app, table, runtime, settings, registry, assigned_inputs)
    del process, flush_idle
    return app


def _flow(app: faust.App, pause: set[tuple[str, int]], resume: set[tuple[str, int]],
          paused: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Pause and resume input partitions; the set now paused."""
    to_pause = pause - paused
    to_resume = (resume & paused) - pause
    if to_pause:
        app.consumer.pause_partitions([TP(t, p) for t, p in to_pause])
    if to_resume:
        app.consumer.resume_partitions([TP(t, p) for t, p in to_resume])
    return (paused | to_pause) - to_resume


class StateWriter:
    """Writes a batch's table state in bulk: the changelog first, then the local store.

    Faust's per-key table writes cost a future, a buffered message and a store write
    each (most of the worker's time when every event changes an object). The table
    stays Faust's: its changelog topic, its recovery into the store on assignment, its
    standby replicas and its routing of the per-seller view. Only the writing is done
    here, a Kafka batch per partition, and the local store written once the changelog
    has it (so the local store is never ahead of the changelog after a crash).
    """

    def __init__(self, app: faust.App, table: Any, faults: Faults | None = None) -> None:
        self.app = app
        self.table = table
        self.faults = faults or Faults(None)

    def saved(self, partition: int) -> Mapping[bytes, bytes]:
        """The local store's keys of a partition (RocksDB: that partition's database;
        memory: one dict of all partitions). Read directly, not through the table, whose
        reads pick the partition of the event being processed (none here)."""
        store = self.table.data
        if hasattr(store, "_db_for_partition"):
            return cast(Mapping[bytes, bytes], store._db_for_partition(partition))
        return cast(Mapping[bytes, bytes], store.data)

    async def write(self, writes: dict[int, list[tuple[bytes, bytes | None]]]) -> None:
        """Write each partition's (key, value or None to delete), in order."""
        if not writes:
            return
        kafka = _producer(self.app)
        topic = self.table.changelog_topic.get_topic_name()
        sent: dict[int, list[tuple[asyncio.Future[Any], int]]] = {}
        for partition, records in writes.items():
            if records:
                sent[partition] = await _send_bulk(kafka, topic, partition, records)
        store = self.table.data
        for partition, batches in sent.items():
            metas = await asyncio.gather(*(future for future, _ in batches))
            _store_local(store, partition, writes[partition])
            # The offset of the last record written: recovery reads on from there.
            store.set_persisted_offset(TP(topic, partition),
                                       metas[-1].offset + batches[-1][1] - 1)
            self.faults.check("state")  # one partition's state written, maybe not all


def guard_changelog_offsets(app: faust.App) -> None:
    """Before table recovery reads a changelog partition's offsets, discard the local store
    of any partition that is ahead of its changelog.

    Local state written up to an offset the changelog does not reach means the changelog
    is not the one the state came from (the broker was wiped, the topic deleted and
    created again): Faust would stop with ConsistencyError ("persisted offset ... is
    higher than the last offset in that topic") on every start. The changelog is the
    source of truth, so the local copy goes and recovery rebuilds it from there. Hooked
    into Faust's Recovery._build_offsets, which completes the offsets read at assignment
    just before that check (for active and standby partitions alike).
    """
    recovery: Any = app.tables.recovery  # type: ignore[attr-defined]
    build_offsets = recovery._build_offsets

    async def guarded(consumer: Any, tps: set[TP], destination: Any, title: str) -> None:
        for tp in await discard_ahead(app, consumer, tps):
            destination[tp] = None  # as for a partition never stored (Recovery._add)
        await build_offsets(consumer, tps, destination, title)

    recovery._build_offsets = guarded


async def discard_ahead(app: faust.App, consumer: Any, tps: set[TP]) -> list[TP]:
    """Discard the local store of each changelog partition whose persisted offset is not
    below its end offset; the partitions discarded."""
    if not tps:
        return []
    ends = await consumer.highwaters(*tps)
    ahead: list[tuple[TP, int, int]] = []
    for tp in sorted(tps):
        table = app.tables._changelogs.get(tp.topic)  # type: ignore[attr-defined]
        if table is None:
            continue
        persisted = table.persisted_offset(tp)
        end = ends.get(tp)
        if persisted is not None and persisted >= 0 and (end is None or persisted >= end):
            _discard_local(table.data, tp.partition)
            ahead.append((tp, persisted, -1 if end is None else end))
    if ahead:
        log.warning("Local state is ahead of its changelog (the broker was wiped or the topic "
                    "created again): discarded and rebuilt from the changelog: %s",
                    ", ".join(f"{tp.topic}[{tp.partition}] saved up to offset {saved}, "
                              f"changelog ends at {end}" for tp, saved, end in ahead))
    return [tp for tp, _, _ in ahead]


def _discard_local(store: Any, partition: int) -> None:
    """Delete every key (the persisted offset too) of a partition's local store."""
    if hasattr(store, "_db_for_partition"):  # RocksDB
        from rocksdict import WriteBatch

        db = store._db_for_partition(partition)
        batch = WriteBatch(raw_mode=True)
        keys = db.iter()  # raw mode: iterating the Rdict itself raises KeyError
        keys.seek_to_first()
        while keys.valid():
            batch.delete(keys.key())
            keys.next()
        db.write(batch)
        return
    data, where = store.data, store._key_partition  # memory (nothing survives a restart)
    for key in [k for k, p in where.items() if p == partition]:
        data.pop(key, None)
        where.pop(key, None)


def _kafka_consumer(app: faust.App) -> Any:
    """The aiokafka consumer under Faust's (for when a partition was last polled)."""
    return app.consumer._thread._ensure_consumer()  # type: ignore[attr-defined]


def _producer(app: faust.App) -> Any:
    """The aiokafka producer under Faust's (for bulk sends)."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]


def _by_partition(keyed: list[tuple[str, bytes]], partitions: int) -> dict[
    int, list[tuple[bytes | None, bytes]]
]:
    out: dict[int, list[tuple[bytes | None, bytes]]] = {}
    for key, value in keyed:
        out.setdefault(partition_for(key, partitions), []).append((key.encode(), value))
    return out


async def _send_bulk(kafka: Any, topic: str, partition: int,
                     records: Sequence[tuple[bytes | None, bytes | None]]) -> list[
    tuple[asyncio.Future[Any], int]
]:
    """Send records to one topic partition as few Kafka batches: (future, records in it)
    per batch, in order."""
    sent: list[tuple[asyncio.Future[Any], int]] = []
    batch = kafka.create_batch()
    count = 0
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:
            sent.append((await kafka.send_batch(batch, topic, partition=partition), count))
            batch, count = kafka.create_batch(), 0
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a record for {topic}[{partition}] of "
                                 f"{len(value or b'')} bytes exceeds the producer batch size")
        count += 1
    if count:
        sent.append((await kafka.send_batch(batch, topic, partition=partition), count))
    return sent


def _store_local(store: Any, partition: int,
                 records: list[tuple[bytes, bytes | None]]) -> None:
    """Apply writes to Faust's local store of the table (RocksDB or memory)."""
    if hasattr(store, "_db_for_partition"):  # RocksDB: one atomic write batch
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for key, value in records:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        store._db_for_partition(partition).write(batch)
        return
    data, where = store.data, store._key_partition  # memory
    for key, value in records:
        if value is None:
            data.pop(key, None)
            where.pop(key, None)
        else:
            data[key] = value
            where[key] = partition


def run_worker(settings: Settings) -> None:
    """Run the worker until stopped."""
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level)
    worker.execute_from_commandline()
