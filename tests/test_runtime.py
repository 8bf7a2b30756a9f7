"""The worker's runtime without Kafka: records in, outputs, writes and flow control out."""

from __future__ import annotations

import base64
import hashlib
import logging

import msgspec
import orjson
import pytest
from prometheus_client import CollectorRegistry

import streams.kafka.runtime as runtime_module
from streams.core.outputs import DEAD_LETTER_MAX_VALUE_BYTES, DeadLetter, snapshot
from streams.core.targets import load_profile
from streams.kafka.observability import BrokerOutages
from streams.kafka.runtime import Record, Runtime, read_to_end
from streams.kafka.settings import Settings, SettingsError, fail_stage

TOPICS = ("orders", "shipments", "messages", "refunds")


def placed(i: int, day: int, seller: str = "S1") -> bytes:
    t = f"2026-01-{day:02d}T00:00:{i % 60:02d}Z"
    return orjson.dumps({
        "event_id": f"e{i}", "type": "order_placed", "event_time": t, "seller_id": seller,
        "order_id": f"o{i}", "marketplace": "US", "channel": "seller",
        "expected_ship_at": t, "promised_delivery_at": t, "units": 1})


def runtime(evict: str = "settled") -> Runtime:
    return Runtime(load_profile("amazon-us"), 60_000, 1, TOPICS, evict=evict)


def test_a_record_whose_key_disagrees_with_its_seller_is_dead_lettered() -> None:
    rt, store = runtime(), {}
    out = rt.process([Record("orders", 0, 0, b"S2", placed(1, 5))], lambda p: store,
                     lambda t, p: True)
    assert [d.reason for d in out.dead_letters] == ["key_mismatch"]
    assert out.ackable == [None]


def test_a_restored_partition_skips_what_it_applied_and_retakes_what_it_held() -> None:
    rt, store = runtime(), {}
    records = [Record("orders", 0, i, b"S1", placed(i, 5 + i), handle=i) for i in range(4)]
    out = rt.process(records, lambda p: store, lambda t, p: False)  # a backlog elsewhere: hold
    for key, value in [w for ws in out.writes.values() for w in ws]:
        store[key] = value  # type: ignore[assignment]
    assert sorted(out.ackable) == []  # all held: nothing may be committed yet
    again = runtime()
    out = again.process(records, lambda p: store, lambda t, p: True)
    assert out.events_total == 4 and out.skipped_total == 0
    assert sorted(out.ackable) == [0, 1, 2]  # the newest stays within the lateness
    flushed = again.tick(lambda t, p: True, now_s=100.0, idle_s=1.0)
    assert flushed.ackable == [3]


def test_offsets_jumped_over_are_counted_from_a_restored_position_and_within_a_life() -> None:
    rt, store = runtime(), {}
    first = [Record("orders", 0, i, b"S1", placed(i, 5)) for i in range(3)]
    out = rt.process(first, lambda p: store, lambda t, p: True)
    assert out.offsets_skipped == 0  # a partition's first record: no position to jump from
    for key, value in [w for ws in out.writes.values() for w in ws]:
        store[key] = value  # type: ignore[assignment]
    out = rt.process([Record("orders", 0, 7, b"S1", placed(7, 5))], lambda p: store,
                     lambda t, p: True)
    assert out.offsets_skipped == 4  # 3, 4, 5 and 6 never came
    again = runtime()  # restored at offset 3 (what the first batch saved)
    out = again.process([Record("orders", 0, 5, b"S1", placed(5, 5))], lambda p: store,
                        lambda t, p: True)
    assert out.offsets_skipped == 2
    out = again.process([Record("orders", 0, 3, b"S1", placed(3, 5))], lambda p: store,
                        lambda t, p: True)
    assert out.offsets_skipped == 0  # delivered late, behind the position: not a jump


def test_topics_running_ahead_are_paused_but_never_the_one_holding_the_watermark() -> None:
    rt, store = runtime(), {}
    records = [Record("orders", 0, i, b"S1", placed(i, 20), handle=i) for i in range(5)]
    records.append(Record("shipments", 0, 0, b"S1", orjson.dumps({
        "event_id": "s0", "type": "delivered", "event_time": "2026-01-02T00:00:00Z",
        "seller_id": "S1", "order_id": "o0"}), handle="s0"))
    idle = ("messages", "refunds")  # read to the end (nothing in them)
    rt.process(records, lambda p: store, lambda t, p: t in idle)
    pause, resume = rt.flow(lambda t, p: t in idle, max_pending=3)
    assert ("orders", 0) in pause
    assert ("shipments", 0) in resume and ("shipments", 0) not in pause
    # The laggard read to the end: the paused topic is now the slowest, so it reads on.
    pause, resume = rt.flow(lambda t, p: t != "orders", max_pending=3)
    assert ("orders", 0) in resume and not pause


def test_a_partition_counts_as_read_to_its_end_only_on_an_end_offset_newer_than_the_rest(
) -> None:
    assert not read_to_end(5, None, None, 0), "end unknown before the first fetch"
    assert not read_to_end(4, 5, 1_000, 0), "a backlog"
    assert read_to_end(5, 5, 1_000, 900), "polled after the newest record was created"
    assert read_to_end(5, 5, 1_000, 1_000)
    # The end was learned before a record of another topic taken since was created: that
    # topic's producer may have written here too meanwhile.
    assert not read_to_end(5, 5, 1_000, 1_001)
    assert not read_to_end(5, 5, None, 0), "never polled"


def _simulated_records(partitions: int = 1) -> list[Record]:
    from streams.kafka.client import TOPIC_OF
    from streams.offline.simulate import SimulationConfig, iter_ndjson

    lines = iter_ndjson(SimulationConfig(seed=5, sellers=3, days=30,
                                         orders_per_seller_day=12.0, degrading_fraction=0.7))
    offsets: dict[str, int] = {}
    records = []
    for line in lines:
        doc = orjson.loads(line)
        topic = TOPIC_OF[doc["type"]]
        offset = offsets[topic] = offsets.get(topic, -1) + 1
        records.append(Record(topic, 0, offset, doc["seller_id"].encode(), line.rstrip(b"\n"),
                              handle=(topic, offset)))
    return records


def _save(writes: list[tuple[bytes, bytes | None]], store: dict[bytes, bytes]) -> None:
    """Apply a batch's writes to the store, as the worker does before its next batch."""
    for key, value in writes:
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value


def _run(rt: Runtime, batches: list[list[Record]], store: dict[bytes, bytes]) -> list[object]:
    alerts: list[object] = []
    for batch in batches:
        out = rt.process(batch, lambda p: store, lambda t, p: True)
        alerts += out.alerts
        _save(out.writes[0], store)
    return alerts


def test_objects_left_in_the_store_change_no_output_and_take_less_memory() -> None:
    records = _simulated_records()
    size = len(records) // 20
    batches = [records[i:i + size] for i in range(0, len(records), size)]
    outputs = {}
    for evict in ("none", "settled", "all"):
        rt, store = runtime(evict), {}
        alerts = _run(rt, batches[:10], store)
        again = runtime(evict)  # restored from the store mid-way
        restored = again.ensure(0, store).part.engine
        hot = [f for s in restored.sellers.values() for kind in ("order", "message", "return")
               for f in s.objects(kind).values()]
        if evict == "none":
            assert sum(1 for f in hot if f.wake_ms is None) > len(hot) / 2
        elif evict == "settled":
            assert hot and all(f.wake_ms is not None for f in hot)
        else:
            assert not hot
        alerts += _run(again, batches[10:], store)
        engine = again.active[0].part.engine
        held = sum(s.held_objects() for s in engine.sellers.values())
        outputs[evict] = (alerts, {s: snapshot(engine, s) for s in engine.sellers},
                          engine.open_objects(), held)
    assert outputs["all"][0], "the data must raise alerts for this test to mean anything"
    assert outputs["settled"][:3] == outputs["none"][:3] == outputs["all"][:3]
    open_objects = outputs["none"][2]
    assert outputs["none"][3] == open_objects
    assert outputs["settled"][3] < open_objects / 4, (outputs["settled"][3], open_objects)
    assert outputs["all"][3] == 0


def test_a_crash_cutting_a_batchs_writes_short_neither_loses_nor_repeats_anything() -> None:
    records = _simulated_records()
    size = len(records) // 6
    batches = [records[i:i + size] for i in range(0, len(records), size)]
    whole: dict[bytes, bytes] = {}
    want = _run(runtime(), batches, whole)
    assert len(want) >= 5, "the data must raise alerts for this test to mean anything"
    cut_batch = 3  # the crash: alerts of this batch sent, its writes cut after `k`
    for k in (1, 2, 7, 50):
        store: dict[bytes, bytes] = {}
        rt = runtime()
        got = _run(rt, batches[:cut_batch], store)
        out = rt.process(batches[cut_batch], lambda p, s=store: s, lambda t, p: True)
        got += out.alerts  # published before any of its state was written
        writes = out.writes[0]
        assert k < len(writes)
        _save(writes[:k], store)
        # A new worker: Kafka delivers that batch again (never acknowledged), then the rest.
        again = runtime()
        got += _run(again, batches[cut_batch:], store)
        assert got == want, f"cut after {k} writes"
        view = again.view(rt.active[0].part.engine.sellers.__iter__().__next__())
        assert view is not None
    # Uncut, the mark and the state agree and nothing is held back from publishing.
    assert runtime().ensure(0, whole).published is None


def test_events_held_back_at_a_crash_count_when_delivered_again_after_other_topics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime_module, "SAVED_HOLD_MAX", 0)  # held events are not saved
    store: dict[bytes, bytes] = {}
    orders = [Record("orders", 0, i, b"S1", placed(i, 5 + i), handle=i) for i in range(4)]
    out = runtime().process(orders, lambda p: store, lambda t, p: False)  # all four held back
    _save(out.writes[0], store)
    assert out.ackable == []
    # After the crash Kafka delivers the shipments topic first (later events), and every
    # topic looks read to its end: the watermark must still wait for the held orders.
    again = runtime()
    later = Record("shipments", 0, 0, b"S1", orjson.dumps({
        "event_id": "s0", "type": "delivered", "event_time": "2026-01-20T00:00:00Z",
        "seller_id": "S1", "order_id": "o0"}), handle="s0")
    _save(again.process([later], lambda p: store, lambda t, p: True).writes[0], store)
    assert again.active[0].part.engine.sellers == {}, "nothing released before the orders"
    out = again.process(orders, lambda p: store, lambda t, p: True)
    _save(out.writes[0], store)
    assert not out.dead_letters and out.skipped_total == 0
    out = again.tick(lambda t, p: True, now_s=100.0, idle_s=1.0)
    _save(out.writes[0], store)
    seller = again.active[0].part.engine.sellers["S1"]
    assert seller.open_objects() == 4
    # Held in memory while a deadline is pending, else read back from the store.
    for i in range(4):
        assert (f"o{i}" in seller.objects("order")
                or runtime_module.object_key("S1", "order", f"o{i}") in store), i
    assert "o0" not in seller.objects("order"), (
        "delivered, it waits for no deadline: left in the store")


def test_restoring_from_a_store_out_of_key_order_fails_rather_than_split_a_seller() -> None:
    from collections.abc import Iterator, Mapping

    records = _simulated_records()
    store: dict[bytes, bytes] = {}
    _run(runtime(), [records[:2000]], store)

    class Unordered(Mapping[bytes, bytes]):  # neither a dict nor in key order
        def __getitem__(self, key: bytes) -> bytes:
            return store[key]

        def __iter__(self) -> Iterator[bytes]:
            return iter(sorted(store, reverse=True))

        def __len__(self) -> int:
            return len(store)

    with pytest.raises(RuntimeError, match="key order"):
        runtime().ensure(0, Unordered())
    assert runtime().ensure(0, store).part.engine.open_objects() > 100


def test_assigned_partitions_are_restoring_until_restored_and_ready_after() -> None:
    rt = Runtime(load_profile("amazon-us"), 60_000, 4, TOPICS)
    rt.assign({0, 2})
    assert rt.partition_states() == {0: "restoring", 2: "restoring"}
    assert rt.restoring() == {0, 2}
    rt.ensure(2, {})
    assert rt.partition_states() == {0: "restoring", 2: "ready"}
    assert rt.restoring() == {0} and list(rt.active) == [2]
    rt.drop(2)
    assert rt.partition_states() == {0: "restoring"} and not rt.active


def test_a_restored_partition_answers_the_view_before_any_new_record() -> None:
    rt, store = runtime(), {}
    out = rt.process([Record("orders", 0, i, b"S1", placed(i, 5 + i)) for i in range(3)],
                     lambda p: store, lambda t, p: True)
    _save(out.writes[0], store)
    _save(rt.tick(lambda t, p: True, now_s=100.0, idle_s=1.0).writes[0], store)
    again = runtime()
    again.assign({0})
    assert again.view("S1") is None
    again.ensure(0, store)  # what the worker does once table recovery completes
    assert again.view("S1") == rt.view("S1") is not None


def test_snapshots_not_yet_published_are_published_after_a_restore() -> None:
    # Snapshots go out at most every SNAPSHOT_INTERVAL_S: a seller changed since the last
    # ones were sent is listed in the partition state, so a hand-over or a crash before
    # they are sent loses none (the CI run found one lost on a hand-over).
    rt = Runtime(load_profile("amazon-us"), 60_000, 1, TOPICS, snapshot_interval_s=1e9,
                 evict="settled")
    store: dict[bytes, bytes] = {}
    first = rt.process([Record("orders", 0, 0, b"S1", placed(0, 5)),
                        Record("orders", 0, 1, b"S1", placed(1, 6))], lambda p: store,
                       lambda t, p: True, now_s=1e10)
    _save(first.writes[0], store)
    assert [s.seller_id for s in first.snapshots] == ["S1"]  # the first ones go out
    later = rt.process([Record("orders", 0, 2, b"S2", placed(2, 7, seller="S2"))],
                       lambda p: store, lambda t, p: True, now_s=1e10 + 1)
    _save(later.writes[0], store)
    assert later.snapshots == []  # S1 changed again (its day-6 order), not due yet
    again = Runtime(load_profile("amazon-us"), 60_000, 1, TOPICS, evict="settled")
    again.ensure(0, store)
    out = again.tick(lambda t, p: True, now_s=1e10 + 100, idle_s=1.0)
    published = {s.seller_id: s for s in out.snapshots}
    assert "S1" in published
    assert published["S1"] == again.view("S1")


class TestDeadLetters:
    """Dead letters of any input fit the topic."""

    def test_an_oversized_value_keeps_a_prefix_with_its_size_and_hash(self) -> None:
        huge = b"{" + b"\xff" * 900_000
        out = runtime().process([Record("orders", 0, 0, b"S1", huge)], lambda p: {},
                                lambda t, p: True)
        (whole,) = out.dead_letters
        assert whole.payload == "full" and base64.b64decode(whole.value_base64) == huge
        letter = whole.fitted(DEAD_LETTER_MAX_VALUE_BYTES)
        kept = base64.b64decode(letter.value_base64)
        assert letter.payload == "truncated" and huge.startswith(kept)
        assert len(kept) == DEAD_LETTER_MAX_VALUE_BYTES // 3 * 3
        assert letter.original_size_bytes == len(huge)
        assert letter.original_sha256 == hashlib.sha256(huge).hexdigest()
        assert len(msgspec.json.encode(letter)) < 512 * 1024

    @pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 6, 7])
    def test_a_small_value_is_kept_whole(self, size: int) -> None:
        raw = bytes(range(size))
        letter = DeadLetter.of(raw, "not_json", "e", None, "f", None, 1).fitted(6)
        assert base64.b64decode(letter.value_base64) == raw[:6]
        assert letter.payload == ("full" if size <= 6 else "truncated")

    def test_an_oversized_key_and_its_error_are_cut(self) -> None:
        key = b"K" * 300_000
        out = runtime().process([Record("orders", 0, 0, key, placed(1, 5))], lambda p: {},
                                lambda t, p: True)
        (letter,) = out.dead_letters
        assert letter.reason == "key_mismatch" and letter.key_truncated
        assert letter.key == "K" * 1024 and len(letter.error) < 2100

    def test_a_record_written_before_the_new_fields_still_decodes(self) -> None:
        old = (b'{"reason":"not_json","error":"e","field":null,"source":"orders",'
               b'"partition":0,"offset":1,"key":null,"value_base64":"e30="}')
        letter = msgspec.json.decode(old, type=DeadLetter)
        assert letter.payload == "full" and letter.original_sha256 is None


class TestBrokerOutages:
    """A broker outage logs one line when it starts and one when it ends."""

    def outages(self, clock: list[float]) -> tuple[BrokerOutages, CollectorRegistry,
                                                   list[logging.LogRecord]]:
        registry = CollectorRegistry()
        said: list[logging.LogRecord] = []
        log = logging.getLogger("test.outages")
        log.propagate = False
        log.handlers = [_ListHandler(said)]
        return BrokerOutages(registry, log, clock=lambda: clock[0]), registry, said

    def test_a_flood_of_client_errors_is_one_warning_each_way(self) -> None:
        clock = [100.0]
        outages, registry, said = self.outages(clock)
        client = "aiokafka.conn"
        first = _record(client, "Unable connect to node with id 1: Connect call failed")
        assert outages.filter(first) is False
        assert outages.active and len(said) == 1 and "unreachable" in said[0].getMessage()
        for i in range(1000):
            clock[0] = 100.0 + i * 0.025
            assert not outages.filter(_record(client, "Failed fetch messages: NodeNotReady"))
        assert outages.filter(_record(client, "Heartbeat ok", logging.INFO))
        outages.answered()  # the client is not quiet yet
        assert outages.active
        clock[0] = 130.0
        outages.answered()
        assert not outages.active and len(said) == 2
        assert "after an outage of 30.0 s (1000 client errors" in said[1].getMessage()
        assert registry.get_sample_value("sellerperf_broker_outages_total") == 1
        assert registry.get_sample_value("sellerperf_broker_outage_seconds_total") == 30.0
        assert registry.get_sample_value("sellerperf_broker_outage_ongoing_seconds") == 0
        assert registry.get_sample_value("sellerperf_broker_client_errors_hidden_total") == 1000

    def test_other_warnings_pass_and_a_timer_overlap_from_the_outage_does_not(self) -> None:
        clock = [0.0]
        outages, _, said = self.outages(clock)
        assert outages.filter(_record("aiokafka.consumer", "Topic x is not available"))
        outages.filter(_record("aiokafka", "Unable to update metadata from [1]"))
        clock[0] = 20.0
        outages.answered()
        clock[0] = 21.0
        overlap = logging.LogRecord("mode.timers", logging.WARNING, "", 0,
                                    "Timer %s is overlapping (interval=%r runtime=%r)",
                                    ("commit", 1.0, 12.0), None)
        assert not outages.filter(overlap)  # it ran from 9 s, in the outage
        clock[0] = 100.0
        assert outages.filter(overlap)  # a slow commit of its own: logged
        assert len(said) == 2


class _ListHandler(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


def _record(name: str, message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, "", 0, message, (), None)


@pytest.mark.parametrize(("value", "expected"), [
    ("", None), ("publish:3", ("publish", 3)), ("ack:1", ("ack", 1))])
def test_a_failure_to_inject_is_read_from_its_setting(
    value: str, expected: tuple[str, int] | None
) -> None:
    assert fail_stage(value) == expected


@pytest.mark.parametrize("value", ["publish", "publish:0", "fly:1", "state:x"])
def test_a_malformed_failure_to_inject_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(SettingsError, match=f"SELLERPERF_FAIL_AT: got '{value}'"):
        Settings.from_env({"SELLERPERF_FAIL_AT": value})
