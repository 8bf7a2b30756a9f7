"""The engine's rates equal a brute-force recomputation from the whole event log."""

from __future__ import annotations

from typing import Any

import orjson
from cold import DictCold
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from oracle import rates_at, recompute, turns_at
from strategies import allowed_lateness, deadlines_of, delivered, event_logs, event_ms

from streams.core.alerts import Alert
from streams.core.events import decode_event
from streams.core.outputs import snapshot
from streams.core.partition import Partition
from streams.core.targets import parse_profile

# Every metric, with short and long windows and lags, so window edges are exercised.
ENTRIES: list[tuple[str, str, int, int]] = [
    ("odr_60", "order_defect", 60, 0),
    ("odr_7_lag3", "order_defect", 7, 3),
    ("cancel_7", "seller_cancel", 7, 0),
    ("lsr_10", "late_shipment", 10, 0),
    ("lsr_1", "late_shipment", 1, 0),
    ("vtr_30", "valid_tracking", 30, 0),
    ("otd_14", "on_time_delivery", 14, 0),
    ("otd_3_lag1", "on_time_delivery", 3, 1),
    ("crt_7", "contact_response", 7, 0),
    ("crt48_30", "contact_response_48h", 30, 0),
    ("rdr_30", "return_dissatisfaction", 30, 0),
    ("rdr_2", "return_dissatisfaction", 2, 0),
    ("refund_30", "refund_timeliness", 30, 0),
    ("nfb_60", "negative_feedback", 60, 0),
    ("tdr_90", "transaction_defect", 90, 0),
]

PROFILE = parse_profile(
    {
        "name": "test",
        "entries": {
            name: {
                "metric": metric,
                "window_days": window,
                "lag_days": lag,
                "direction": "below",
                "min_sample": 1,
                "versions": [{"since": __import__("datetime").date(2020, 1, 1), "target": 0.5}],
            }
            for name, metric, window, lag in ENTRIES
        },
    }
)


def engine_rates(part: Partition) -> dict[tuple[str, str], tuple[int, int]]:
    """(numerator, denominator) per (seller, entry) as the engine holds them, but 0 / 0
    (a seller with nothing left is forgotten: it has 0 / 0 everywhere)."""
    return {
        (seller, name): value
        for seller in part.engine.sellers
        for name, value in part.engine.rates(seller).items()
        if value != (0, 0)
    }


def counted(rates: dict[tuple[str, str], tuple[int, int]]) -> dict[tuple[str, str],
                                                                   tuple[int, int]]:
    """The rates that are not 0 / 0."""
    return {k: v for k, v in rates.items() if v != (0, 0)}


COLD = ["", "settled", "all", "all-held"]
"""No cold store; after each batch evict what changed or was read back and waits for no
deadline (the worker's SELLERPERF_EVICT=settled); all of it (=all); every object held."""


def run(stream: list[dict[str, Any]], lateness_ms: int, cold: str = "",
        batch: int = 1) -> Partition:
    """Feed the delivered stream one event at a time, draining after each."""
    return feed(stream, lateness_ms, cold, batch)[0]


def feed(stream: list[dict[str, Any]], lateness_ms: int, cold: str = "",
         batch: int = 1) -> tuple[Partition, list[Alert]]:
    """The partition after the stream, and every alert raised. With a `cold` store (see
    COLD), objects are evicted after every `batch` events, and read back when needed."""
    part = Partition(PROFILE, lateness_ms)
    store = DictCold(part.engine) if cold else None
    alerts = []
    for i, event in enumerate(stream, 1):
        assert part.offer(decode_event(orjson.dumps(event)))
        alerts += part.drain()
        if store is not None and i % batch == 0:
            store.settle(everything=cold == "all-held", waiting=cold.startswith("all"))
    return part, alerts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rates_equal_brute_force_for_shuffled_duplicated_logs(data: st.DataObject) -> None:
    log = data.draw(event_logs())
    lateness_ms = data.draw(allowed_lateness(log))
    stream = data.draw(delivered(log, lateness_ms))
    part = run(stream, lateness_ms, cold=data.draw(st.sampled_from(COLD), label="cold store"),
               batch=data.draw(st.sampled_from([1, 3, 50]), label="evicting every"))
    assert (part.too_late_total, part.corrections_total) == (0, 0)

    # Without a flush the engine has applied what the watermark passed.
    # ... and its clock is at the release watermark (docs/semantics.md, "Time").
    released = [e for e in log if event_ms(e) < part.sequencer.released_ms]
    if released:
        clock = part.sequencer.released_ms
        assert part.engine.clock_ms == clock
        newest = max(event_ms(e) for e in released)
        assert engine_rates(part) == counted(recompute(released, ENTRIES, newest - clock)[1])

    # Flushed, it has applied everything.
    part.flush()
    clock, expected = recompute(log, ENTRIES, 0)
    assert part.engine.clock_ms == clock
    assert engine_rates(part) == counted(expected)

    # Moved on with no event onto a deadline or 1 ms either side (deadlines pass strictly
    # after), then a redelivery of the event that set the deadline, or a rival copy that
    # changes no fact, is applied late at that very clock: the object is recomputed there.
    later = [(d, k, owner) for d, owner in deadlines_of(log) for k in (-1, 0, 1)
             if d + k > clock]
    if not later:
        return
    # Mostly onto a deadline still pending there, where a comparison with the clock decides.
    pending = [(d, k, owner) for d, k, owner in later if turns_at(log, d)]
    d, k, owner = data.draw(st.sampled_from(pending or later), label="clock onto")
    at = d + k
    note(f"clock onto {owner['type']} deadline {k:+d}, pending={bool(pending)}")
    part.engine.advance(at)
    assert part.engine.clock_ms == at
    assert engine_rates(part) == counted(rates_at(log, ENTRIES, at))
    rival = {**owner, "event_id": "d-" + owner["event_id"]}
    copy = dict(owner) if data.draw(st.booleans()) else rival
    part.engine.apply(decode_event(orjson.dumps(copy)))
    assert part.engine.clock_ms == at
    assert engine_rates(part) == counted(rates_at([*log, copy], ENTRIES, at))


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_delivery_order_does_not_change_the_alerts(data: st.DataObject) -> None:
    log = data.draw(event_logs())
    lateness_ms = data.draw(allowed_lateness(log))
    first, a = feed(data.draw(delivered(log, lateness_ms)), lateness_ms)
    # The second with a cold store: evicting objects changes no alert, down to the orders
    # each names.
    second, b = feed(data.draw(delivered(log, lateness_ms)), lateness_ms,
                     cold=data.draw(st.sampled_from(COLD[1:]), label="cold store"),
                     batch=data.draw(st.sampled_from([1, 4]), label="evicting every"))
    a += first.flush()
    b += second.flush()
    assert engine_rates(first) == engine_rates(second)
    assert a == b
    assert first.engine.open_objects() == second.engine.open_objects()
    for seller in first.engine.sellers:
        assert snapshot(first.engine, seller) == snapshot(second.engine, seller), seller


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_late_copy_on_a_deadline_is_judged_by_the_clock_there(data: st.DataObject) -> None:
    # The clock stops exactly on a pending deadline (or 1 ms either side): only what had
    # happened by then is applied, then a redelivery (or a rival copy that changes no
    # fact) of the event that set the deadline arrives late, so its object is recomputed
    # at that clock. A deadline d has passed only when the clock is > d.
    log = data.draw(event_logs())
    candidates = []
    for d, owner in deadlines_of(log):
        prefix = [e for e in log if event_ms(e) <= d]
        if owner in prefix and turns_at(prefix, d):
            candidates.append((d, owner, prefix))
    if not candidates:
        return
    # Each kind of deadline as often as the others (the scan and the reply are rarer).
    kind = data.draw(st.sampled_from(sorted({o["type"] for _, o, _ in candidates})))
    d, owner, prefix = data.draw(
        st.sampled_from([c for c in candidates if c[1]["type"] == kind]), label="deadline")
    at = d + data.draw(st.sampled_from((0, 0, -1, 1)), label="clock - deadline")
    note(f"clock onto {owner['type']} deadline {at - d:+d}")
    part = run(data.draw(delivered(prefix, 0)), 0)
    part.flush()
    at = max(at, part.engine.clock_ms)
    part.engine.advance(at)
    assert engine_rates(part) == counted(rates_at(prefix, ENTRIES, at))
    rival = {**owner, "event_id": "d-" + owner["event_id"]}
    copy = dict(owner) if data.draw(st.booleans()) else rival
    part.engine.apply(decode_event(orjson.dumps(copy)))
    assert part.engine.clock_ms == at
    assert engine_rates(part) == counted(rates_at([*prefix, copy], ENTRIES, at))
