"""The worker's runtime without Kafka: records in, outputs, writes and flow control out."""

from __future__ import annotations

import orjson

from streams.runtime import Record, Runtime
from streams.targets import load_profile

TOPICS = ("orders", "shipments", "messages", "refunds")


def placed(i: int, day: int, seller: str = "S1") -> bytes:
    t = f"2026-01-{day:02d}T00:00:{i % 60:02d}Z"
    return orjson.dumps({
        "event_id": f"e{i}", "type": "order_placed", "event_time": t, "seller_id": seller,
        "order_id": f"o{i}", "marketplace": "US", "channel": "seller",
        "expected_ship_at": t, "promised_delivery_at": t, "units": 1})


def runtime() -> Runtime:
    return Runtime(load_profile("amazon-us"), 60_000, 1, TOPICS)


def test_a_record_whose_key_disagrees_with_its_seller_is_dead_lettered() -> None:
    rt, store = runtime(), {}
    out = rt.process([Record("orders", 0, 0, b"S2", placed(1, 5))], store, lambda t, p: True)
    assert [d.reason for d in out.dead_letters] == ["key_mismatch"]
    assert out.ackable == [None]


def test_a_restored_partition_skips_what_it_applied_and_retakes_what_it_held() -> None:
    rt, store = runtime(), {}
    records = [Record("orders", 0, i, b"S1", placed(i, 5 + i), handle=i) for i in range(4)]
    out = rt.process(records, store, lambda t, p: False)  # a backlog elsewhere: hold
    for key, value in [w for ws in out.writes.values() for w in ws]:
        store[key] = value  # type: ignore[assignment]
    assert sorted(out.ackable) == []  # all held: nothing may be committed yet
    again = runtime()
    out = again.process(records, store, lambda t, p: True)
    assert out.events_total == 4 and out.skipped_total == 0
    assert sorted(out.ackable) == [0, 1, 2]  # the newest stays within the lateness
    flushed = again.flush_idle(lambda t, p: True, now_s=100.0, idle_s=1.0)
    assert flushed.ackable == [3]


def test_topics_running_ahead_are_paused_but_never_the_one_holding_the_watermark() -> None:
    rt, store = runtime(), {}
    records = [Record("orders", 0, i, b"S1", placed(i, 20), handle=i) for i in range(5)]
    records.append(Record("shipments", 0, 0, b"S1", orjson.dumps({
        "event_id": "s0", "type": "delivered", "event_time": "2026-01-02T00:00:00Z",
        "seller_id": "S1", "order_id": "o0"}), handle="s0"))
    idle = ("messages", "refunds")  # read to the end (nothing in them)
    rt.process(records, store, lambda t, p: t in idle)
    pause, resume = rt.flow(lambda t, p: t in idle, max_pending=3)
    assert ("orders", 0) in pause
    assert ("shipments", 0) in resume and ("shipments", 0) not in pause
    # The laggard read to the end: the paused topic is now the slowest, so it reads on.
    pause, resume = rt.flow(lambda t, p: t != "orders", max_pending=3)
    assert ("orders", 0) in resume and not pause
