"""The worker's runtime without Kafka: records in, outputs, writes and flow control out."""

from __future__ import annotations

import orjson
import pytest

import streams.kafka.runtime as runtime_module
from streams.core.outputs import snapshot
from streams.core.targets import load_profile
from streams.kafka.runtime import Record, Runtime, read_to_end

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
