"""Behaviour of the engine's metrics (docs/semantics.md, "Metrics"), one object at a time.

Every case drives the real engine with the shipped amazon-us profile through
`Engine.apply` / `Engine.advance` and reads (numerator, denominator) back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from streams.core.clock import DAY_MS, HOUR_MS
from streams.core.engine import Engine
from streams.core.outputs import snapshot
from streams.core.targets import load_profile, parse_profile

T0 = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1000)  # a Monday
ODR = "order_defect_rate_60d"
CANCEL = "cancel_rate_7d"
LSR = "late_shipment_rate_10d"
CRT = "contact_response_24h_7d"
RDR = "return_dissatisfaction_rate_30d"
LATE_REFUND = "late_refund_rate_30d"


# -- order defects ----------------------------------------------------------

FB = "feedback_received"
CLAIM, DECIDED = "claim_filed", "claim_decided"
CB, REVERSED = "chargeback_filed", "chargeback_reversed"


def _decided(claim: str, decision: str) -> dict[str, Any]:
    return {"claim_id": claim, "decision": decision, "seller_at_fault": decision == "granted"}


# (event type, hours after the order was placed, fields); applied in list order.
DEFECT_CASES = [
    pytest.param([], 0, id="no-feedback-no-claim-not-a-defect"),
    pytest.param([(FB, 1, {"rating": 1})], 1, id="rating-1-is-a-defect"),
    pytest.param([(FB, 1, {"rating": 2})], 1, id="rating-2-is-a-defect"),
    pytest.param([(FB, 1, {"rating": 3})], 0, id="rating-3-is-not-a-defect"),
    pytest.param([(FB, 1, {"rating": 1}), ("feedback_removed", 2, {})], 0,
                 id="removed-negative-feedback-stops-counting"),
    pytest.param([(FB, 1, {"rating": 1}), (FB, 2, {"rating": 5})], 0,
                 id="feedback-revised-to-positive-stops-counting"),
    pytest.param([(FB, 1, {"rating": 5}), (FB, 2, {"rating": 2})], 1,
                 id="feedback-revised-to-negative-counts"),
    pytest.param([(CLAIM, 1, {"claim_id": "c1"})], 1, id="filed-claim-is-a-defect"),
    pytest.param([(CLAIM, 1, {"claim_id": "c1"}), (DECIDED, 2, _decided("c1", "denied"))], 0,
                 id="denied-claim-stops-counting"),
    pytest.param(
        [(CLAIM, 1, {"claim_id": "c1"}), (DECIDED, 2, _decided("c1", "denied")),
         (DECIDED, 3, _decided("c1", "granted"))],
        1, id="denied-then-granted-on-appeal-is-a-defect-again",
    ),
    pytest.param([(CLAIM, 1, {"claim_id": "c1"}), (DECIDED, 2, _decided("c1", "withdrawn"))], 0,
                 id="withdrawn-claim-does-not-count"),
    pytest.param([(CLAIM, 1, {"claim_id": "c1"}), (DECIDED, 2, _decided("c1", "granted"))], 1,
                 id="granted-claim-is-a-defect"),
    pytest.param(
        [(CLAIM, 1, {"claim_id": "c1"}), (CLAIM, 2, {"claim_id": "c2"}),
         (DECIDED, 3, _decided("c1", "denied"))],
        1, id="second-claim-still-open-after-first-is-denied",
    ),
    pytest.param([(DECIDED, 5, _decided("c1", "denied")), (CLAIM, 3, {"claim_id": "c1"})], 0,
                 id="denial-arriving-before-its-filing-still-wins-by-event-time"),
    pytest.param([(CB, 1, {"chargeback_id": "k1"})], 1, id="active-chargeback-is-a-defect"),
    pytest.param([(CB, 1, {"chargeback_id": "k1"}), (REVERSED, 2, {"chargeback_id": "k1"})], 0,
                 id="reversed-chargeback-stops-counting"),
    pytest.param(
        [(CB, 1, {"chargeback_id": "k1"}), (CB, 2, {"chargeback_id": "k2"}),
         (REVERSED, 3, {"chargeback_id": "k1"})],
        1, id="other-chargeback-still-active",
    ),
    pytest.param(
        [(FB, 1, {"rating": 1}), (CLAIM, 2, {"claim_id": "c1"}), (CB, 3, {"chargeback_id": "k1"})],
        1, id="negative-feedback-claim-and-chargeback-count-once",
    ),
]


@pytest.mark.parametrize(("steps", "defects"), DEFECT_CASES)
def test_order_defect_numerator_follows_the_latest_state(amazon, ev, steps, defects):
    engine = Engine(amazon)
    placed = T0 + 8 * HOUR_MS
    engine.apply(ev.placed("o1", placed))
    for type_, hours, fields in steps:
        engine.apply(ev.make(type_, placed + hours * HOUR_MS, order_id="o1", **fields))
    assert engine.rates("s1")[ODR] == (defects, 1)


def test_order_with_three_defects_counts_once_among_other_orders(amazon, ev):
    engine = Engine(amazon)
    for i in range(4):
        engine.apply(ev.placed(f"o{i}", T0 + i * HOUR_MS))
    t = T0 + 6 * HOUR_MS
    engine.apply(ev.feedback("o1", t, 1))
    engine.apply(ev.make(CLAIM, t + 1, order_id="o1", claim_id="c1"))
    engine.apply(ev.make(CB, t + 2, order_id="o1", chargeback_id="k1"))
    assert engine.rates("s1")[ODR] == (1, 4)


# -- cancels ----------------------------------------------------------------

CANCEL_CASES = [
    pytest.param("seller", [], (0, 1), id="not-cancelled"),
    pytest.param("seller", ["buyer"], (0, 1), id="buyer-cancel-does-not-count"),
    pytest.param("seller", ["seller"], (1, 1), id="seller-cancel-counts"),
    pytest.param("seller", ["system"], (1, 1), id="system-cancel-counts"),
    pytest.param("seller", ["seller", "buyer"], (0, 1), id="later-buyer-cancel-wins"),
    pytest.param("marketplace", ["seller"], (0, 0), id="marketplace-fulfilled-not-counted"),
]


@pytest.mark.parametrize(("channel", "cancels", "expected"), CANCEL_CASES)
def test_cancel_rate_counts_seller_and_system_cancels_only(amazon, ev, channel, cancels,
                                                           expected):
    engine = Engine(amazon)
    engine.apply(ev.placed("o1", T0 + HOUR_MS, channel=channel))
    for k, by in enumerate(cancels):
        engine.apply(ev.cancelled("o1", T0 + (2 + k) * HOUR_MS, by))
    assert engine.rates("s1")[CANCEL] == expected


# -- late shipment ----------------------------------------------------------

SHIP_BY = T0 + 18 * HOUR_MS
"""Expected ship time of the order in the late-shipment cases (placed at 08:00)."""

# actions relative to the expected ship time: ("ship", dt) | ("cancel", by, dt) | ("clock", dt)
LATE_SHIPMENT_CASES = [
    pytest.param([("clock", 0)], (0, 1), id="unconfirmed-at-the-deadline-is-not-late"),
    pytest.param([("clock", 1)], (1, 1), id="unconfirmed-1ms-after-the-deadline-is-late"),
    pytest.param([("clock", -HOUR_MS)], (0, 1), id="unconfirmed-before-the-deadline-pending"),
    pytest.param([("ship", 0), ("clock", DAY_MS)], (0, 1), id="shipped-at-the-deadline-on-time"),
    pytest.param([("ship", 1)], (1, 1), id="shipped-1ms-after-the-deadline-late"),
    pytest.param([("cancel", "buyer", -HOUR_MS), ("clock", DAY_MS)], (0, 0),
                 id="buyer-cancelled-unshipped-not-counted"),
    pytest.param([("cancel", "seller", -HOUR_MS), ("clock", DAY_MS)], (0, 0),
                 id="seller-cancelled-unshipped-not-counted"),
    pytest.param([("clock", 1), ("cancel", "buyer", HOUR_MS)], (0, 0),
                 id="cancel-after-the-deadline-removes-the-late-count"),
    pytest.param([("ship", HOUR_MS), ("cancel", "seller", 2 * HOUR_MS)], (1, 1),
                 id="shipped-late-then-cancelled-still-late"),
]


@pytest.mark.parametrize(("actions", "expected"), LATE_SHIPMENT_CASES)
def test_late_shipment_deadline_passes_strictly_after_expected_ship_time(amazon, ev, actions,
                                                                        expected):
    engine = Engine(amazon)
    engine.apply(ev.placed("o1", T0 + 8 * HOUR_MS, channel="seller", ship_by=SHIP_BY))
    for action in actions:
        if action[0] == "ship":
            engine.apply(ev.shipped("o1", SHIP_BY + action[1]))
        elif action[0] == "cancel":
            engine.apply(ev.cancelled("o1", SHIP_BY + action[2], action[1]))
        else:
            engine.advance(SHIP_BY + action[1])
    assert engine.rates("s1")[LSR] == expected


def test_marketplace_fulfilled_order_never_counts_as_late_shipment(amazon, ev):
    engine = Engine(amazon)
    engine.apply(ev.placed("o1", T0 + 8 * HOUR_MS, channel="marketplace", ship_by=SHIP_BY))
    engine.advance(SHIP_BY + DAY_MS)
    assert engine.rates("s1")[LSR] == (0, 0)


# -- buyer messages ---------------------------------------------------------

RECEIVED = T0 + 9 * HOUR_MS
H24 = 24 * HOUR_MS

# actions relative to the message's receipt: ("reply", dt) | ("clock", dt)
MESSAGE_CASES = [
    pytest.param(True, [("reply", HOUR_MS)], (1, 1), id="reply-within-an-hour-on-time"),
    pytest.param(True, [("reply", H24)], (1, 1), id="reply-at-exactly-24h-on-time"),
    pytest.param(True, [("reply", H24 + 1)], (0, 1), id="reply-1ms-after-24h-late"),
    pytest.param(True, [("clock", H24)], (0, 0), id="unanswered-at-24h-still-pending"),
    pytest.param(True, [("clock", H24 + 1)], (0, 1), id="unanswered-1ms-after-24h-late"),
    pytest.param(True, [("clock", H24 + 1), ("reply", 2 * H24)], (0, 1),
                 id="late-reply-after-being-counted-late-stays-late"),
    pytest.param(False, [("clock", 3 * H24)], (0, 0), id="message-needing-no-reply-not-counted"),
]


@pytest.mark.parametrize(("needs_reply", "actions", "expected"), MESSAGE_CASES)
def test_unanswered_message_becomes_late_after_24_hours(amazon, ev, needs_reply, actions,
                                                        expected):
    engine = Engine(amazon)
    engine.apply(ev.message("m1", RECEIVED, needs_reply=needs_reply))
    for what, dt in actions:
        if what == "reply":
            engine.apply(ev.make("seller_replied", RECEIVED + dt, message_id="m1"))
        else:
            engine.advance(RECEIVED + dt)
    assert engine.rates("s1")[CRT] == expected


# -- returns ----------------------------------------------------------------

REQUESTED = T0 + 9 * HOUR_MS
H48 = 48 * HOUR_MS

# actions relative to the request: (event type, dt, fields) or ("clock", dt, {})
RETURN_CASES = [
    pytest.param([("return_authorised", H48, {})], (0, 1), id="authorised-at-exactly-48h-ok"),
    pytest.param([("return_authorised", H48 + 1, {})], (1, 1),
                 id="authorised-1ms-after-48h-defect"),
    pytest.param([("clock", H48, {})], (0, 1), id="no-decision-at-48h-not-yet-a-defect"),
    pytest.param([("clock", H48 + 1, {})], (1, 1), id="no-decision-within-48h-is-a-defect"),
    pytest.param([("refund_issued", 2 * HOUR_MS, {})], (0, 1), id="prompt-refund-is-a-decision"),
    pytest.param([("return_rejected", HOUR_MS, {"within_policy": True})], (0, 1),
                 id="rejection-within-policy-ok"),
    pytest.param([("return_rejected", HOUR_MS, {"within_policy": False})], (1, 1),
                 id="invalid-rejection-is-a-defect"),
    pytest.param(
        [("return_authorised", HOUR_MS, {}),
         ("return_feedback", 2 * HOUR_MS, {"satisfied": False})],
        (1, 1), id="negative-return-feedback-is-a-defect",
    ),
    pytest.param(
        [("return_authorised", HOUR_MS, {}),
         ("return_feedback", 2 * HOUR_MS, {"satisfied": True})],
        (0, 1), id="positive-return-feedback-ok",
    ),
]


@pytest.mark.parametrize(("actions", "expected"), RETURN_CASES)
def test_return_dissatisfaction_counts_slow_invalid_or_unhappy_returns(amazon, ev, actions,
                                                                       expected):
    engine = Engine(amazon)
    engine.apply(ev.make("return_requested", REQUESTED, return_id="r1", order_id="o1"))
    for type_, dt, fields in actions:
        if type_ == "clock":
            engine.advance(REQUESTED + dt)
        else:
            engine.apply(ev.make(type_, REQUESTED + dt, return_id="r1", **fields))
    assert engine.rates("s1")[RDR] == expected


FRIDAY_15H = T0 + 4 * DAY_MS + 15 * HOUR_MS  # 2026-01-09T15:00Z
TUESDAY_15H = T0 + 8 * DAY_MS + 15 * HOUR_MS  # 2026-01-13T15:00Z
MONDAY_15H = T0 + 7 * DAY_MS + 15 * HOUR_MS  # 2026-01-12T15:00Z
WEDNESDAY_15H = T0 + 9 * DAY_MS + 15 * HOUR_MS  # 2026-01-14T15:00Z

# (receipt time, ("refund" | "clock", at), expected late refund (num, den))
REFUND_CASES = [
    pytest.param(FRIDAY_15H, ("refund", MONDAY_15H), (0, 1), id="friday-receipt-monday-refund"),
    pytest.param(FRIDAY_15H, ("refund", TUESDAY_15H), (0, 1),
                 id="friday-receipt-refund-tuesday-same-time-on-time"),
    pytest.param(FRIDAY_15H, ("refund", TUESDAY_15H + 1), (1, 1),
                 id="friday-receipt-refund-1ms-after-tuesday-same-time-late"),
    pytest.param(FRIDAY_15H, ("clock", TUESDAY_15H), (0, 1),
                 id="friday-receipt-no-refund-at-tuesday-same-time-not-late"),
    pytest.param(FRIDAY_15H, ("clock", TUESDAY_15H + 1), (1, 1),
                 id="friday-receipt-no-refund-after-tuesday-same-time-late"),
    pytest.param(MONDAY_15H, ("refund", WEDNESDAY_15H), (0, 1),
                 id="monday-receipt-refund-wednesday-same-time-on-time"),
    pytest.param(MONDAY_15H, ("refund", WEDNESDAY_15H + 1), (1, 1),
                 id="monday-receipt-refund-after-wednesday-same-time-late"),
]


@pytest.mark.parametrize(("received", "action", "expected"), REFUND_CASES)
def test_refund_is_late_after_two_business_days_from_receipt(amazon, ev, received, action,
                                                             expected):
    engine = Engine(amazon)
    requested = T0 + 9 * HOUR_MS
    engine.apply(ev.make("return_requested", requested, return_id="r1", order_id="o1"))
    engine.apply(ev.make("return_authorised", requested + HOUR_MS, return_id="r1"))
    engine.apply(ev.make("return_received", received, return_id="r1"))
    what, at = action
    if what == "refund":
        engine.apply(ev.make("refund_issued", at, return_id="r1"))
    else:
        engine.advance(at)
    assert engine.rates("s1")[LATE_REFUND] == expected


# -- every deadline, recomputed exactly on it --------------------------------


def _late_shipment(ev):
    return [ev.placed("o1", T0 + 8 * HOUR_MS, channel="seller", ship_by=SHIP_BY)], SHIP_BY


def _valid_tracking(ev):
    shipped = T0 + 12 * HOUR_MS
    return [ev.placed("o1", T0 + 8 * HOUR_MS, channel="seller", ship_by=SHIP_BY),
            ev.shipped("o1", shipped)], shipped + 48 * HOUR_MS


def _on_time_delivery(ev):
    promised = T0 + 3 * DAY_MS
    return [ev.placed("o1", T0 + 8 * HOUR_MS, channel="seller", ship_by=SHIP_BY,
                      promised=promised),
            ev.shipped("o1", T0 + 12 * HOUR_MS),
            ev.make("tracking_validated", T0 + 14 * HOUR_MS, order_id="o1")], promised


def _contact_response(ev):
    return [ev.message("m1", RECEIVED)], RECEIVED + H24


def _return_decision(ev):
    return [ev.make("return_requested", REQUESTED, return_id="r1", order_id="o1")], \
        REQUESTED + H48


def _refund(ev):
    return [ev.make("return_requested", REQUESTED, return_id="r1", order_id="o1"),
            ev.make("return_authorised", REQUESTED + HOUR_MS, return_id="r1"),
            ev.make("return_received", FRIDAY_15H, return_id="r1")], TUESDAY_15H


# (scenario -> (events, deadline), entry, rates at the deadline, rates 1 ms after it)
DEADLINE_CASES = [
    pytest.param(_late_shipment, LSR, (0, 1), (1, 1), id="late-shipment"),
    pytest.param(_valid_tracking, "valid_tracking_rate_30d", (0, 0), (0, 1),
                 id="carrier-scan-due-48h-after-shipment"),
    pytest.param(_on_time_delivery, "on_time_delivery_rate_14d", (0, 0), (0, 1),
                 id="delivery-due-at-the-promised-time"),
    pytest.param(_contact_response, CRT, (0, 0), (0, 1), id="reply-due-within-24h"),
    pytest.param(_return_decision, RDR, (0, 1), (1, 1), id="return-decision-due-within-48h"),
    pytest.param(_refund, LATE_REFUND, (0, 1), (1, 1), id="refund-due-2-business-days"),
]


@pytest.mark.parametrize(("scenario", "name", "at_deadline", "after"), DEADLINE_CASES)
@pytest.mark.parametrize("recompute", [False, True], ids=["by-the-clock", "by-a-redelivery"])
def test_deadline_passes_only_once_the_clock_is_strictly_after_it(amazon, ev, scenario, name,
                                                                  at_deadline, after, recompute):
    """Same answer whether the engine wakes the object or a redelivered event recomputes it."""
    engine = Engine(amazon)
    events, deadline = scenario(ev)
    for event in events:
        engine.apply(event)
    for clock, expected in ((deadline, at_deadline), (deadline + 1, after)):
        engine.advance(clock)
        if recompute:
            for event in events:
                engine.apply(event)
        assert engine.rates("s1")[name] == expected, clock - deadline


# -- duplicates and snapshots ----------------------------------------------


def mixed_scenario(ev) -> list:
    """Two sellers, every topic, enough volume to raise alerts under amazon-us."""
    out = []
    for seller in ("s1", "s2"):
        for i in range(60):
            t = T0 + i * 10 * 60_000
            out.append(ev.placed(f"o{i}", t, channel="seller", ship_by=t + 6 * HOUR_MS,
                                 seller=seller))
            if i % 4:
                out.append(ev.shipped(f"o{i}", t + HOUR_MS, seller=seller))
        base = T0 + 11 * HOUR_MS
        out.append(ev.feedback("o1", base, 1, seller=seller))
        out.append(ev.make(CLAIM, base + 1, seller=seller, order_id="o2", claim_id="c1"))
        out.append(ev.make(DECIDED, base + 2, seller=seller, order_id="o2",
                           **_decided("c1", "denied")))
        out.append(ev.make(CB, base + 3, seller=seller, order_id="o3", chargeback_id="k1"))
        out.append(ev.cancelled("o5", base + 4, "seller", seller=seller))
        for m in range(12):
            out.append(ev.message(f"m{m}", base + m * 60_000, seller=seller))
            if m % 3:
                out.append(ev.make("seller_replied", base + m * 60_000 + HOUR_MS,
                                   seller=seller, message_id=f"m{m}"))
        for r in range(10):
            t = base + r * 60_000
            out.append(ev.make("return_requested", t, seller=seller, return_id=f"r{r}",
                               order_id=f"o{r}"))
            if r % 2:
                out.append(ev.make("return_authorised", t + HOUR_MS, seller=seller,
                                   return_id=f"r{r}"))
    out.sort(key=lambda e: e.event_time)
    out.append(ev.placed("tick", T0 + 4 * DAY_MS, seller="s3"))
    return out


def _entry(metric: str, window: int, direction: str, target: float) -> dict[str, Any]:
    return {
        "metric": metric, "window_days": window, "direction": direction, "min_sample": 5,
        "hysteresis": 0.01,
        "versions": [{"since": date(2019, 1, 1), "target": target, "warning_margin": 0.02}],
    }


EVERY_METRIC = parse_profile({
    "name": "every-metric",
    "entries": {
        "odr": _entry("order_defect", 60, "below", 0.02),
        "cancel": _entry("seller_cancel", 7, "below", 0.025),
        "lsr": _entry("late_shipment", 10, "below", 0.04),
        "vtr": _entry("valid_tracking", 30, "above", 0.95),
        "otd": _entry("on_time_delivery", 14, "above", 0.9),
        "crt": _entry("contact_response", 7, "above", 0.9),
        "crt48": _entry("contact_response_48h", 30, "at_least", 0.9),
        "rdr": _entry("return_dissatisfaction", 30, "below", 0.1),
        "refund": _entry("refund_timeliness", 30, "below", 0.05),
        "nfb": _entry("negative_feedback", 60, "at_most", 0.01),
        "tdr": _entry("transaction_defect", 90, "below", 0.02),
    },
})
"""Every registered metric with small minimum samples, so the mixed scenario raises alerts."""


def _run(profile, events) -> tuple[Engine, list[str]]:
    engine = Engine(profile)
    ids = [a.alert_id for e in events for a in engine.apply(e)]
    return engine, ids


@pytest.mark.parametrize("profile", [EVERY_METRIC, load_profile("amazon-us")],
                         ids=["every-metric", "amazon-us"])
@pytest.mark.parametrize(
    "redeliver",
    [
        pytest.param(lambda evs: [e for e in evs for _ in (0, 1)], id="each-event-twice-in-a-row"),
        pytest.param(lambda evs: evs + evs, id="whole-stream-replayed-after-the-end"),
        pytest.param(lambda evs: evs[:70] + evs[:70] + evs[70:], id="prefix-replayed-midway"),
    ],
)
def test_duplicate_events_change_no_rate_and_raise_no_extra_alert(ev, profile, redeliver):
    events = mixed_scenario(ev)
    once, once_ids = _run(profile, events)
    twice, twice_ids = _run(profile, redeliver(events))
    if profile is EVERY_METRIC:
        assert len(once_ids) >= 8  # the scenario does raise alerts
    assert twice_ids == once_ids
    for seller in ("s1", "s2", "s3"):
        assert twice.rates(seller) == once.rates(seller)
    assert snapshot(twice, "s1") == snapshot(once, "s1")


@pytest.mark.parametrize("profile", [EVERY_METRIC, load_profile("amazon-us")],
                         ids=["every-metric", "amazon-us"])
def test_snapshot_reports_every_profile_entry_with_the_engine_rates(ev, profile):
    engine, _ = _run(profile, mixed_scenario(ev))
    snap = snapshot(engine, "s1")
    assert snap is not None
    assert (snap.seller_id, snap.target_profile) == ("s1", profile.name)
    assert snap.as_of == "2026-01-09T00:00:00.000Z"
    assert [r.metric for r in snap.rates] == [e.name for e in profile.entries]
    rates = engine.rates("s1")
    assert list(rates) == [e.name for e in profile.entries]
    for r in snap.rates:
        assert (r.numerator, r.denominator) == rates[r.metric]
        assert r.value == (r.numerator / r.denominator if r.denominator else None)


def test_snapshot_numbers_statuses_and_health_of_the_mixed_scenario(ev):
    engine, _ = _run(EVERY_METRIC, mixed_scenario(ev))
    snap = snapshot(engine, "s1")
    assert snap is not None
    got = {r.metric: (r.numerator, r.denominator, r.status) for r in snap.rates}
    assert got == {
        "odr": (2, 60, "breach"),  # o1 negative feedback, o3 chargeback; o2's claim denied
        "cancel": (1, 60, "at_risk"),
        "lsr": (15, 60, "breach"),  # every fourth order never confirmed
        "vtr": (0, 45, "breach"),  # no carrier scan ever arrived
        "otd": (0, 0, "insufficient_data"),
        "crt": (8, 12, "breach"),
        "crt48": (8, 12, "breach"),
        "rdr": (5, 10, "breach"),  # five returns never decided
        "refund": (0, 0, "insufficient_data"),
        "nfb": (1, 60, "breach"),
        "tdr": (1, 60, "at_risk"),
    }
    odr = next(r for r in snap.rates if r.metric == "odr")
    assert odr.target_version == "every-metric/odr@2019-01-01"
    assert (odr.window_start, odr.window_end) == ("2025-11-11", "2026-01-09")
    assert snap.account_health == "critical"


def test_snapshot_of_an_unknown_seller_is_none(amazon):
    assert snapshot(Engine(amazon), "nobody") is None
