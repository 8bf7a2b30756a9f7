"""Saving the engine's state mid-stream and restoring it gives the same rates and alerts."""

from __future__ import annotations

import orjson

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
from streams.core.events import AnyEvent, decode_event
from streams.core.partition import Partition
from streams.core.targets import load_profile
from streams.core.window import bucket_days
from streams.offline.simulate import SimulationConfig, generate

PROFILE = load_profile("amazon-us")
EVENTS = [decode_event(orjson.dumps(e)) for e in generate(
    SimulationConfig(seed=3, sellers=12, days=40, orders_per_seller_day=12.0,
                     degrading_fraction=0.2))]


def run(events: list[AnyEvent], part: Partition, store: dict[str, bytes] | None,
        every: int = 500) -> list[Alert]:
    """Feed events; every `every` events write what changed to `store`; the alerts (whole:
    the id leaves out the orders named, account health and window dates)."""
    alerts: list[Alert] = []
    part.engine.track_writes = store is not None
    for i, event in enumerate(events, 1):
        part.offer(event)
        alerts += part.drain()
        if store is not None and i % every == 0:
            save(part, store)
    return alerts


def save(part: Partition, store: dict[str, bytes]) -> None:
    """Write the dirty sellers and objects, then the partition state."""
    engine = part.engine
    for seller_id in engine.dirty_sellers:
        store[f"s/{seller_id}"] = encode_seller(engine.sellers[seller_id])
    for (seller_id, kind, key), facts in engine.dirty_objects.items():
        if facts is None:
            store.pop(f"o/{seller_id}/{kind}/{key}", None)
        else:
            store[f"o/{seller_id}/{kind}/{key}"] = encode_facts(facts)
    engine.dirty_sellers.clear()
    engine.dirty_objects.clear()
    store["p"] = partition_state(part, {"orders": 1}, {"orders": 2})


def restore(store: dict[str, bytes]) -> Partition:
    """A fresh partition loaded from the store."""
    sellers = {}
    for key, blob in store.items():
        if key.startswith("s/"):
            seller = decode_seller(blob)
            sellers[seller.seller_id] = seller
    for key, blob in store.items():
        if key.startswith("o/"):
            _, seller_id, kind, _object_key = key.split("/", 3)
            add_facts(sellers[seller_id], kind, decode_facts(kind, blob))
    part = Partition(PROFILE, 60_000)
    state = restore_partition(part, store["p"], list(sellers.values()))
    assert state is not None
    assert state.positions == {"orders": 1}
    return part


def rates(part: Partition) -> dict[str, dict[str, tuple[int, int]]]:
    return {s: part.engine.rates(s) for s in part.engine.sellers}


def test_a_restored_partition_continues_exactly_where_it_stopped() -> None:
    straight = Partition(PROFILE, 60_000)
    expected_alerts = run(EVENTS, straight, None)
    cut = len(EVENTS) // 2 // 500 * 500
    store: dict[str, bytes] = {}
    first = Partition(PROFILE, 60_000)
    alerts = run(EVENTS[:cut], first, store)
    second = restore(store)
    alerts += run(EVENTS[cut:], second, None)
    assert expected_alerts, "the log should raise alerts for this test to mean something"
    assert alerts == expected_alerts
    assert rates(second) == rates(straight)
    assert second.pending == straight.pending


def test_restored_facts_and_sellers_equal_the_originals() -> None:
    part = Partition(PROFILE, 60_000)
    store: dict[str, bytes] = {}
    run(EVENTS[:3000], part, store)
    save(part, store)
    for seller in part.engine.sellers.values():
        back = decode_seller(encode_seller(seller))
        assert back.status == seller.status
        for kind in ("order", "message", "return"):
            for facts in seller.objects(kind).values():
                again = decode_facts(kind, encode_facts(facts))
                for name in (*type(facts).__slots__, "applied", "key", "last_ms", "wake_ms"):
                    assert getattr(again, name) == getattr(facts, name), name
    # Buckets and recent ids are not saved: restoring recounts them from the objects.
    restored = restore(store).engine
    assert restored.sellers.keys() == part.engine.sellers.keys()
    named = 0
    for seller_id, seller in part.engine.sellers.items():
        again = restored.sellers[seller_id]
        floor = part.engine.floor
        live = [{d: c for d, c in bucket_days(b).items() if d > floor[i]} if b else {}
                for i, b in enumerate(seller.buckets)]
        assert [bucket_days(b) if b else {} for b in again.buckets] == live, seller_id
        kept = [None if not r else {k: v for k, v in r.items() if v[0] > floor[i]} or None
                for i, r in enumerate(seller.recent or [None] * len(seller.buckets))]
        assert [r or None for r in again.recent or [None] * len(kept)] == kept, seller_id
        named += sum(len(r) for r in kept if r)
    assert named, "some orders should count against some seller for this to mean anything"
