"""Hand-computed cases that pin the brute-force oracle to docs/semantics.md."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from oracle import DAY, HOUR, add_business_days, classify, day_of, parse_ms, recompute

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z, a Monday
D0 = 20_458  # day_of(T0)
Event = dict[str, Any]


def iso(ms: int) -> str:
    """RFC 3339 text of an instant, UTC with milliseconds."""
    text = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()
    return text.replace("+00:00", "Z")


def ev(event_id: str, event_type: str, ms: int, seller: str = "s1", **fields: Any) -> Event:
    """An event dict in the wire format."""
    return {
        "event_id": event_id,
        "type": event_type,
        "event_time": iso(ms),
        "seller_id": seller,
        **fields,
    }


def placed(
    ms: int,
    ship_after: int = DAY,
    promise_after: int = 3 * DAY,
    channel: str = "seller",
    event_id: str = "p",
    order_id: str = "o1",
) -> Event:
    """An order_placed with its deadlines relative to the placed time."""
    return ev(
        event_id,
        "order_placed",
        ms,
        order_id=order_id,
        marketplace="US",
        channel=channel,
        expected_ship_at=iso(ms + ship_after),
        promised_delivery_at=iso(ms + promise_after),
        units=1,
    )


def tick(ms: int, event_id: str = "tick") -> Event:
    """An event that only moves the watermark (its order is never placed)."""
    return ev(event_id, "delivered", ms, order_id="never-placed")


def rate(
    events: list[Event], metric: str, window: int = 30, lag: int = 0, lateness: int = 0
) -> tuple[int, int]:
    """(numerator, denominator) of seller s1 for one entry."""
    _, result = recompute(events, [("entry", metric, window, lag)], lateness)
    return result[("s1", "entry")]


# ---------------------------------------------------------------- time helpers


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-01-05T00:00:00Z", T0),
        ("2026-01-05T00:00:00.123+00:00", T0 + 123),
        ("2026-01-05T02:00:00+02:00", T0),
        ("2026-01-04T19:00:00.001-05:00", T0 + 1),
    ],
)
def test_parse_ms(text: str, ms: int) -> None:
    assert parse_ms(text) == ms


@pytest.mark.parametrize(("ms", "day"), [(T0, D0), (T0 - 1, D0 - 1), (0, 0), (-1, -1)])
def test_day_of(ms: int, day: int) -> None:
    assert day_of(ms) == day


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (T0 + 10 * HOUR, 2, T0 + 2 * DAY + 10 * HOUR),  # Mon -> Wed
        (T0 + 4 * DAY + 10 * HOUR, 2, T0 + 8 * DAY + 10 * HOUR),  # Fri -> Tue
        (T0 + 3 * DAY, 2, T0 + 7 * DAY),  # Thu -> Mon
        (T0 + 5 * DAY, 2, T0 + 8 * DAY),  # Sat -> Tue
        (T0 + 6 * DAY, 1, T0 + 7 * DAY),  # Sun -> Mon
        (T0 + 5 * DAY, 0, T0 + 5 * DAY),
    ],
)
def test_add_business_days(start: int, n: int, expected: int) -> None:
    assert add_business_days(start, n) == expected


# ---------------------------------------------------------------- order defect

P = T0 + 10 * HOUR


def test_late_negative_feedback_counts_on_the_order_day() -> None:
    events = [placed(P), ev("f", "feedback_received", T0 + 20 * DAY, order_id="o1", rating=1)]
    # W is on day D0 + 20; a 20-day window starts at D0 + 1 and misses the order.
    assert rate(events, "order_defect", window=21) == (1, 1)
    assert rate(events, "order_defect", window=20) == (0, 0)
    assert rate(events, "negative_feedback", window=21) == (1, 1)


def _o(event_id: str, event_type: str, hours: int, **fields: Any) -> Event:
    return ev(event_id, event_type, P + hours * HOUR, order_id="o1", **fields)


def _decided(event_id: str, hours: int, decision: str, at_fault: bool = False) -> Event:
    return _o(
        event_id, "claim_decided", hours, claim_id="c1", decision=decision, seller_at_fault=at_fault
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], (0, 1)),
        ([_o("f", "feedback_received", 5, rating=2)], (1, 1)),
        ([_o("f", "feedback_received", 5, rating=3)], (0, 1)),
        ([_o("f", "feedback_received", 5, rating=1), _o("x", "feedback_removed", 6)], (0, 1)),
        (
            [
                _o("f", "feedback_received", 5, rating=1),
                _o("x", "feedback_removed", 6),
                _o("g", "feedback_received", 7, rating=1),
            ],
            (1, 1),
        ),
        # Same time: the greater event_id wins ("b" > "a").
        ([_o("b", "feedback_received", 5, rating=1), _o("a", "feedback_removed", 5)], (1, 1)),
        ([_o("a", "feedback_received", 5, rating=1), _o("b", "feedback_removed", 5)], (0, 1)),
        ([_o("c", "claim_filed", 5, claim_id="c1")], (1, 1)),
        (
            [
                _o("c", "claim_filed", 5, claim_id="c1"),
                _decided("d", 6, "denied"),
            ],
            (0, 1),
        ),
        (
            [
                _decided("d", 6, "denied"),
                _decided("g", 9, "granted", at_fault=True),
            ],
            (1, 1),
        ),
        # Issue 17, finding 3: a claim the marketplace funds (not the seller's fault).
        ([_decided("g", 9, "granted", at_fault=False)], (0, 1)),
        ([_decided("d", 6, "withdrawn", at_fault=True)], (0, 1)),
        ([_o("k", "chargeback_filed", 5, chargeback_id="k1")], (1, 1)),
        (
            [
                _o("k", "chargeback_filed", 5, chargeback_id="k1"),
                _o("r", "chargeback_reversed", 6, chargeback_id="k1"),
            ],
            (0, 1),
        ),
        # Two defects on one order count once.
        (
            [
                _o("f", "feedback_received", 5, rating=1),
                _o("k", "chargeback_filed", 5, chargeback_id="k1"),
                _o("c", "claim_filed", 5, claim_id="c1"),
            ],
            (1, 1),
        ),
    ],
)
def test_order_defect(extra: list[Event], expected: tuple[int, int]) -> None:
    assert rate([placed(P), *extra], "order_defect") == expected


def test_order_without_placed_counts_nowhere_but_seller_is_listed() -> None:
    events = [_o("f", "feedback_received", 5, rating=1)]
    events.append(ev("z", "delivered", P, "s2", order_id="q"))
    watermark, result = recompute(events, [("od", "order_defect", 30, 0)], 1000)
    assert watermark == P + 5 * HOUR - 1000
    assert result == {("s1", "od"): (0, 0), ("s2", "od"): (0, 0)}


@pytest.mark.parametrize(
    ("extra", "channel", "expected"),
    [
        ([], "seller", (0, 1)),
        ([_o("a", "claim_decided", 6, claim_id="c", decision="granted", seller_at_fault=True)],
         "seller", (1, 1)),
        ([_o("a", "claim_decided", 6, claim_id="c", decision="granted", seller_at_fault=False)],
         "seller", (0, 1)),
        ([_o("a", "claim_filed", 6, claim_id="c")], "seller", (0, 1)),
        ([_o("a", "order_cancelled", 6, cancelled_by="system", reason="r")], "marketplace", (1, 1)),
        ([_o("a", "order_cancelled", 6, cancelled_by="buyer", reason="r")], "seller", (0, 1)),
    ],
)
def test_transaction_defect(extra: list[Event], channel: str, expected: tuple[int, int]) -> None:
    assert rate([placed(P, channel=channel), *extra], "transaction_defect") == expected


# ---------------------------------------------------------------- cancel and shipping


@pytest.mark.parametrize(
    ("extra", "channel", "expected"),
    [
        ([], "seller", (0, 1)),
        ([_o("c", "order_cancelled", 2, cancelled_by="seller", reason="r")], "seller", (1, 1)),
        ([_o("c", "order_cancelled", 2, cancelled_by="system", reason="r")], "seller", (1, 1)),
        ([_o("c", "order_cancelled", 2, cancelled_by="buyer", reason="r")], "seller", (0, 1)),
        ([_o("c", "order_cancelled", 2, cancelled_by="seller", reason="r")], "marketplace", (0, 0)),
        (
            [
                _o("c", "order_cancelled", 2, cancelled_by="seller", reason="r"),
                _o("d", "order_cancelled", 3, cancelled_by="buyer", reason="r"),
            ],
            "seller",
            (0, 1),
        ),
    ],
)
def test_seller_cancel(extra: list[Event], channel: str, expected: tuple[int, int]) -> None:
    assert rate([placed(P, channel=channel), *extra], "seller_cancel") == expected


X = P + DAY  # expected ship time of placed(P)


def _ship(event_id: str, ms: int) -> Event:
    fields: dict[str, Any] = {"order_id": "o1", "carrier": "UPS", "tracking_number": None}
    return ev(event_id, "shipment_confirmed", ms, **fields)


@pytest.mark.parametrize(
    ("extra", "lateness", "expected"),
    [
        ([tick(X)], 0, (0, 1)),  # W == expected ship: not passed yet
        ([tick(X + 1)], 0, (1, 1)),
        ([tick(X + 1 + 5000)], 5000, (1, 1)),
        ([tick(X + 5000)], 5000, (0, 1)),
        ([_ship("s", X), tick(X + DAY)], 0, (0, 1)),
        ([_ship("s", X + 1)], 0, (1, 1)),
        ([_ship("s", X - 1), _ship("t", X + 5)], 0, (0, 1)),  # first time counts
        ([_o("c", "order_cancelled", 1, cancelled_by="buyer", reason="r"), tick(X + 1)], 0, (0, 0)),
        ([_o("c", "order_cancelled", 1, cancelled_by="buyer", reason="r"), _ship("s", X + 1)],
         0, (1, 1)),
    ],
)
def test_late_shipment(extra: list[Event], lateness: int, expected: tuple[int, int]) -> None:
    assert rate([placed(P), *extra], "late_shipment", lateness=lateness) == expected


def test_late_shipment_anchors_on_expected_ship_day() -> None:
    # Placed on D0, expected to ship 3 days later; W on D0 + 10; a 7-day window is D0+4..D0+10.
    events = [placed(P, ship_after=3 * DAY), tick(T0 + 10 * DAY)]
    assert rate(events, "late_shipment", window=7) == (0, 0)
    assert rate(events, "late_shipment", window=8) == (1, 1)
    # An anchor after the window's end day E is outside every window.
    events = [placed(P, ship_after=30 * DAY), tick(T0 + 10 * DAY)]
    assert rate(events, "late_shipment", window=30) == (0, 0)


def test_marketplace_orders_have_no_shipping_metrics() -> None:
    events = [placed(P, channel="marketplace"), _ship("s", X + 1), tick(X + 10 * DAY)]
    for metric in ("late_shipment", "valid_tracking", "on_time_delivery", "seller_cancel"):
        assert rate(events, metric) == (0, 0)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], (0, 0)),
        # Unscanned: pending for 48 hours, then it counts against the seller.
        ([_ship("s", X), tick(X + 48 * HOUR)], (0, 0)),
        ([_ship("s", X), tick(X + 48 * HOUR + 1)], (0, 1)),
        ([_ship("s", X), _o("t", "tracking_validated", 30)], (1, 1)),
    ],
)
def test_valid_tracking(extra: list[Event], expected: tuple[int, int]) -> None:
    assert rate([placed(P), *extra], "valid_tracking") == expected


PROMISED = P + 3 * DAY
SHIPPED = [_ship("s", X), _o("t", "tracking_validated", 30)]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([*SHIPPED, ev("d", "delivered", PROMISED, order_id="o1")], (1, 1)),
        ([*SHIPPED, ev("d", "delivered", PROMISED + 1, order_id="o1")], (0, 1)),
        ([*SHIPPED, tick(PROMISED)], (0, 0)),
        ([*SHIPPED, tick(PROMISED + 1)], (0, 1)),
        ([_ship("s", X), ev("d", "delivered", PROMISED, order_id="o1")], (0, 0)),  # no scan
    ],
)
def test_on_time_delivery(extra: list[Event], expected: tuple[int, int]) -> None:
    assert rate([placed(P), *extra], "on_time_delivery") == expected


# ---------------------------------------------------------------- messages

R = T0 + 9 * HOUR


def _msg(event_id: str, ms: int, needs_reply: bool = True) -> Event:
    return ev(event_id, "message_received", ms, message_id="m1", needs_reply=needs_reply)


def _reply(event_id: str, ms: int) -> Event:
    return ev(event_id, "seller_replied", ms, message_id="m1")


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([_msg("m", R), _reply("r", R + 24 * HOUR)], (1, 1)),  # exactly 24h is on time
        ([_msg("m", R), _reply("r", R + 24 * HOUR + 1)], (0, 1)),
        ([_msg("m", R), tick(R + 24 * HOUR)], (0, 0)),
        ([_msg("m", R), tick(R + 24 * HOUR + 1)], (0, 1)),
        ([_reply("r", R - HOUR), _msg("m", R)], (1, 1)),  # reply before the message
        ([_reply("r", R), tick(R + 3 * DAY)], (0, 0)),  # reply without message
        ([_msg("m", R, needs_reply=False), tick(R + 3 * DAY)], (0, 0)),
        ([_msg("m", R), _msg("n", R + HOUR, needs_reply=False), tick(R + 3 * DAY)], (0, 0)),
    ],
)
def test_contact_response(events: list[Event], expected: tuple[int, int]) -> None:
    assert rate(events, "contact_response") == expected


def test_contact_response_48h() -> None:
    events = [_msg("m", R), _reply("r", R + 30 * HOUR)]
    assert rate(events, "contact_response") == (0, 1)
    assert rate(events, "contact_response_48h") == (1, 1)
    assert rate([_msg("m", R), tick(R + 48 * HOUR)], "contact_response_48h") == (0, 0)
    assert rate([_msg("m", R), tick(R + 48 * HOUR + 1)], "contact_response_48h") == (0, 1)


# ---------------------------------------------------------------- returns

Q = T0 + 3 * HOUR


def _ret(event_id: str, event_type: str, ms: int, **fields: Any) -> Event:
    return ev(event_id, event_type, ms, return_id="r1", **fields)


REQ = _ret("q", "return_requested", Q, order_id="o1")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([_ret("a", "return_authorised", Q + 48 * HOUR)], (0, 1)),
        ([_ret("a", "return_authorised", Q + 48 * HOUR + 1)], (1, 1)),
        ([_ret("a", "return_authorised", Q + 50 * HOUR), _ret("f", "refund_issued", Q + HOUR)],
         (0, 1)),
        ([tick(Q + 48 * HOUR)], (0, 1)),
        ([tick(Q + 48 * HOUR + 1)], (1, 1)),
        ([_ret("j", "return_rejected", Q + HOUR, within_policy=False)], (1, 1)),
        ([_ret("j", "return_rejected", Q + HOUR, within_policy=True)], (0, 1)),
        (
            [
                _ret("a", "return_authorised", Q),
                _ret("s", "return_feedback", Q + DAY, satisfied=False),
            ],
            (1, 1),
        ),
        (
            [
                _ret("a", "return_authorised", Q),
                _ret("s", "return_feedback", Q + DAY, satisfied=False),
                _ret("t", "return_feedback", Q + 2 * DAY, satisfied=True),
            ],
            (0, 1),
        ),
    ],
)
def test_return_dissatisfaction(extra: list[Event], expected: tuple[int, int]) -> None:
    assert rate([REQ, *extra], "return_dissatisfaction") == expected


def test_return_without_request_is_not_in_dissatisfaction() -> None:
    events = [_ret("a", "return_authorised", Q), tick(Q + 9 * DAY)]
    assert rate(events, "return_dissatisfaction") == (0, 0)


FRI = T0 + 4 * DAY + 10 * HOUR  # Friday 2026-01-09T10:00Z
TUE = T0 + 8 * DAY + 10 * HOUR  # two business days later, over the weekend


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([_ret("f", "refund_issued", TUE)], (0, 1)),
        ([_ret("f", "refund_issued", TUE + 1)], (1, 1)),
        ([_ret("f", "refund_issued", TUE - DAY)], (0, 1)),
        ([tick(TUE)], (0, 1)),  # counts always, late only once W > D
        ([tick(TUE + 1)], (1, 1)),
    ],
)
def test_refund_timeliness_over_weekend(extra: list[Event], expected: tuple[int, int]) -> None:
    events = [REQ, _ret("g", "return_received", FRI), *extra]
    assert rate(events, "refund_timeliness") == expected


def test_refund_timeliness_needs_only_the_received_fact() -> None:
    events = [_ret("g", "return_received", FRI), tick(TUE + 1)]
    assert rate(events, "refund_timeliness") == (1, 1)
    assert rate(events, "return_dissatisfaction") == (0, 0)


# ---------------------------------------------------------------- windows and folding


def test_window_boundaries_with_lag() -> None:
    # W on day D0 + 20; window 5 with lag 2 is days D0+14 .. D0+20-2 = D0+18.
    events = [
        placed(T0 + 14 * DAY - 1, order_id="a", event_id="pa"),  # last ms of D0+13: out
        placed(T0 + 14 * DAY, order_id="b", event_id="pb"),  # first ms of D0+14: in
        placed(T0 + 19 * DAY - 1, order_id="c", event_id="pc"),  # last ms of D0+18: in
        placed(T0 + 19 * DAY, order_id="d", event_id="pd"),  # first ms of D0+19: out
        ev("f", "feedback_received", T0 + 19 * DAY, order_id="b", rating=2),
        ev("g", "feedback_received", T0 + 19 * DAY, order_id="d", rating=1),
        tick(T0 + 20 * DAY + 5 * HOUR),
    ]
    assert rate(events, "order_defect", window=5, lag=2) == (1, 2)
    assert rate(events, "order_defect", window=1, lag=0) == (0, 0)
    # Lateness moves W, hence the window, back: W on D0+19 -> days D0+13..D0+17.
    assert rate(events, "order_defect", window=5, lag=2, lateness=DAY) == (1, 2)


def test_placed_register_tie_is_broken_by_event_id_as_string() -> None:
    # "e9" > "e10" as strings, so the marketplace version wins.
    events = [placed(P, event_id="e10"), placed(P, channel="marketplace", event_id="e9")]
    assert rate(events, "seller_cancel") == (0, 0)
    assert rate(events, "order_defect") == (0, 1)


def test_placed_register_later_write_moves_anchor_and_deadlines() -> None:
    # The later write (placed on D0 + 2, shipping due at once) replaces the first one
    # (due at P + 1 day, which W = P + 2 days would have passed).
    events = [placed(P, event_id="p1"), placed(P + 2 * DAY, ship_after=0, event_id="p2")]
    assert rate(events, "late_shipment") == (0, 1)
    assert rate(events, "order_defect", window=1) == (0, 1)
    assert rate(events, "order_defect", window=2, lag=1) == (0, 0)


def test_duplicates_and_order_do_not_matter() -> None:
    events = [
        placed(P),
        _o("f", "feedback_received", 5, rating=1),
        _o("x", "feedback_removed", 6),
        _ship("s", X + 1),
        _msg("m", R),
        tick(X + 3 * DAY),
    ]
    entries = [("od", "order_defect", 30, 0), ("ls", "late_shipment", 30, 0)]
    entries.append(("cr", "contact_response", 30, 0))
    expected = recompute(events, entries, HOUR)
    assert expected == (
        X + 3 * DAY - HOUR,
        {("s1", "od"): (0, 1), ("s1", "ls"): (1, 1), ("s1", "cr"): (0, 1)},
    )
    shuffled = [*reversed(events), events[1], events[4]]
    assert recompute(shuffled, entries, HOUR) == expected


def test_conflicting_duplicate_is_rejected() -> None:
    with pytest.raises(ValueError, match="reused"):
        recompute([tick(T0), tick(T0 + 1)], [("od", "order_defect", 30, 0)], 0)


def test_a_ship_confirmation_past_the_maximum_age_is_not_shipping() -> None:
    # Placed at P, due to ship a day later; shipped exactly 180 days on counts (late),
    # 1 ms later it does not: the order stays unshipped (late, and no tracking rate).
    limit = P + 180 * DAY
    shipped = [placed(P), _ship("s", limit), tick(limit + 3 * DAY)]
    assert rate(shipped, "late_shipment", window=200) == (1, 1)
    assert rate(shipped, "valid_tracking") == (0, 1)
    unshipped = [placed(P), _ship("s", limit + 1), tick(limit + 3 * DAY)]
    assert rate(unshipped, "late_shipment", window=200) == (1, 1)
    assert rate(unshipped, "valid_tracking") == (0, 0)
    # Cancelled and shipped too late: it counts nowhere for late shipment.
    cancel = _o("c", "order_cancelled", 1, cancelled_by="buyer", reason="r")
    assert rate([*unshipped, cancel], "late_shipment", window=200) == (0, 0)


def test_classify_follows_the_one_clock_rule() -> None:
    # lateness 1 h: W = newest - 1 h; late below W, too late below W - 30 days, future
    # beyond now + skew (and moves nothing).
    events = [tick(T0 + 40 * DAY, "a"), tick(T0 + 40 * DAY - HOUR - 1, "b"),
              tick(T0 + 40 * DAY - HOUR, "c"), tick(T0 + 10 * DAY - HOUR - 1, "d"),
              tick(T0 + 10 * DAY - HOUR, "e"), tick(T0 + 41 * DAY + 301_000, "f"),
              tick(T0 + 41 * DAY + 300_000, "g")]
    fate = classify(events, HOUR, now_ms=T0 + 41 * DAY)
    assert fate.fates == ["on_time", "late", "on_time", "too_late", "late", "future", "on_time"]
    assert fate.clocks[1] == T0 + 40 * DAY - HOUR
    assert fate.final_clock_ms == T0 + 41 * DAY + 300_000
