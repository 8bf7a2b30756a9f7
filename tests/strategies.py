"""Hypothesis strategies for small, colliding, edge-case-heavy seller event logs."""

import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import Phase, settings
from hypothesis import strategies as st
from oracle import turns_at

if os.environ.get("PROOF_NO_SHRINK"):
    # Diagnosis on a busy machine: report the first failing example as found.
    settings.register_profile("no-shrink", phases=[Phase.explicit, Phase.reuse,
                                                    Phase.generate])
    settings.load_profile("no-shrink")

DAY = 86_400_000
HOUR = 3_600_000
START_MS = 1_767_571_200_000  # 2026-01-05T00:00:00Z, a Monday
SPAN_MS = 40 * DAY
END_MS = START_MS + SPAN_MS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SELLER_POOL = ("s1", "S-2", "acme.eu:3", "z_9")
CLOCK_SELLER = "zz-clock"
"""Owner of the tick events that move the clock; it never counts anywhere."""
ORDER_MAX_AGE_MS = 180 * DAY
VERY_LATE_SHIP = (116 * DAY, ORDER_MAX_AGE_MS - 1, ORDER_MAX_AGE_MS, ORDER_MAX_AGE_MS + 1,
                  200 * DAY)
EPOCH_START_MS = -31 * DAY  # 1969-12-01T00:00:00Z, a Monday: stories cross 1970
FUTURE_MS = 32_503_680_000_000 + 123_456_789  # early in the year 2999
SPANS = ("dense", "dense", "long", "comeback", "epoch", "mixed")
"""How a seller's stories spread: in 40 days of 2026; over 260 days (past every retention
horizon); a burst, silence, a burst 230+ days later (forgotten, then back); around 1970;
any of those per story."""
ORDER_IDS = tuple(f"o{i}" for i in range(6))
MESSAGE_IDS = tuple(f"m{i}" for i in range(4))
RETURN_IDS = tuple(f"r{i}" for i in range(4))
CLAIM_IDS = ("c0", "c1")
CHARGEBACK_IDS = ("cb0", "cb1")
# Mostly UTC spellings; a few real offsets check that the offset is honoured, not dropped.
OFFSET_MINUTES = (0, 0, 0, 0, 60, 330, -300, -480)

LOCAL_MIDNIGHTS_MS = (8 * HOUR, -HOUR)
"""In the span (winter), local midnight of America/Los_Angeles and of Europe/Berlin."""
DIMENSION_VALUES = ("US", "DE", "JP")

Draw = st.DrawFn


@st.composite
def dimensions(draw: Draw) -> dict[str, Any]:
    """The optional marketplace and channel of a message or return: given or absent."""
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["marketplace"] = draw(st.sampled_from(DIMENSION_VALUES))
    if draw(st.booleans()):
        fields["channel"] = draw(st.sampled_from(("seller", "marketplace")))
    return fields
Event = dict[str, Any]


def _ms_to_text(ms: int, offset_minutes: int, zulu: bool, always_fraction: bool) -> str:
    """Format ms as RFC 3339 in the given offset, with millisecond resolution."""
    local = (_EPOCH + timedelta(milliseconds=ms)).astimezone(
        timezone(timedelta(minutes=offset_minutes))
    )
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if always_fraction or ms % 1000:
        text += f".{ms % 1000:03d}"
    if offset_minutes == 0 and zulu:
        return text + "Z"
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@st.composite
def rfc3339(draw: Draw, ms: int) -> str:
    """One of several equivalent RFC 3339 spellings of the instant ms."""
    return _ms_to_text(
        ms,
        draw(st.sampled_from(OFFSET_MINUTES)),
        draw(st.booleans()),
        draw(st.booleans()),
    )


def _clamp(ms: int) -> int:
    return max(START_MS, min(END_MS, ms))


def _plus_business_days(ms: int, n: int) -> int:
    """The refund deadline rule, repeated here only to aim times at it."""
    t = ms
    while n > 0:
        t += DAY
        if ((t // DAY) + 3) % 7 < 5:
            n -= 1
    return t


@st.composite
def any_time(draw: Draw) -> int:
    """A time in the span: arbitrary ms, or on / just before a UTC midnight."""
    kind = draw(st.sampled_from(("ms", "ms", "midnight", "before_midnight", "friday_evening",
                                 "local_midnight")))
    if kind == "ms":
        return draw(st.integers(START_MS, END_MS))
    day = draw(st.integers(0, SPAN_MS // DAY - 1))
    if kind == "midnight":
        return START_MS + day * DAY
    if kind == "local_midnight":  # of a calendar of the tests: days there begin then
        return START_MS + day * DAY + draw(st.sampled_from(LOCAL_MIDNIGHTS_MS)) + draw(
            st.sampled_from((-1, 0, 0, 1)))
    if kind == "before_midnight":
        return START_MS + (day + 1) * DAY - 1
    # START is a Monday, so week*7 + 4 is a Friday: refund deadlines then span a weekend.
    week = draw(st.integers(0, SPAN_MS // (7 * DAY) - 1))
    return START_MS + (week * 7 + 4) * DAY + draw(st.integers(12 * HOUR, DAY - 1))


@st.composite
def near(draw: Draw, anchor: int) -> int:
    """A time exactly at, one ms around, or some hours/days from an anchor (often a deadline)."""
    kind = draw(st.sampled_from(("exact", "exact", "minus1", "plus1", "hours", "days", "any")))
    if kind == "exact":
        t = anchor
    elif kind == "minus1":
        t = anchor - 1
    elif kind == "plus1":
        t = anchor + 1
    elif kind == "hours":
        t = anchor + draw(st.integers(-6, 30)) * HOUR
    elif kind == "days":
        t = anchor + draw(st.integers(-2 * DAY, 5 * DAY))
    else:
        t = draw(any_time())
    return _clamp(t)


def _event(seller: str, event_type: str, ms: int, **fields: Any) -> Event:
    """An event without event_id; ms is kept under a private key until ids are assigned."""
    return {"type": event_type, "_ms": ms, "seller_id": seller, **fields}


# ---------------------------------------------------------------- orders


@st.composite
def order_story(draw: Draw, seller: str, order_id: str, months: bool = False) -> list[Event]:
    """All events of one order: possibly without placed, with conflicts and deadline hits;
    with `months`, sometimes shipped months later (around the 180-day maximum age)."""
    placed_ms = draw(any_time())
    expected_ship = placed_ms + draw(st.sampled_from((0, HOUR, DAY, 2 * DAY, 3 * DAY + 1)))
    # A promise far ahead (a bad date) spreads a seller's buckets wider than one dense run.
    promised = expected_ship + draw(st.sampled_from((0, DAY, 3 * DAY, 5 * DAY + 7, 500 * DAY)))
    if draw(st.integers(0, 3)) == 0:  # a date-only promise: a local midnight
        promised += -(promised % DAY) + draw(st.sampled_from(LOCAL_MIDNIGHTS_MS))
    events: list[Event] = []
    # 0 placed events tests orders whose placed event never comes; 2 tests the LWW register.
    for i in range(draw(st.sampled_from((0, 1, 1, 1, 1, 2)))):
        rival_times = (placed_ms, placed_ms + 1, expected_ship)
        t = placed_ms if i == 0 else draw(st.sampled_from(rival_times))
        ship_at = expected_ship if i == 0 else draw(near(expected_ship))
        promise_at = promised if i == 0 else draw(near(promised))
        events.append(
            _event(
                seller,
                "order_placed",
                t,
                order_id=order_id,
                marketplace=draw(st.sampled_from(("US", "DE", "JP"))),
                channel=draw(st.sampled_from(("seller", "seller", "seller", "marketplace"))),
                _ship_ms=ship_at,
                _promise_ms=promise_at,
                units=draw(st.integers(1, 5)),
            )
        )
    cancels = draw(st.sampled_from((0, 0, 0, 0, 1, 1, 2)))
    for _ in range(cancels):
        events.append(
            _event(
                seller,
                "order_cancelled",
                draw(near(draw(st.sampled_from((placed_ms, expected_ship))))),
                order_id=order_id,
                cancelled_by=draw(st.sampled_from(("seller", "buyer", "system"))),
                reason=draw(st.sampled_from(("out_of_stock", "buyer_request", "fraud"))),
            )
        )
    ship_times = [draw(near(expected_ship)) for _ in range(draw(st.sampled_from((0, 1, 1, 2))))]
    if months and draw(st.integers(0, 3)) == 0:
        # An order open for months: shipped around the 180-day maximum age, or 116 days on.
        ship_times.append(placed_ms + draw(st.sampled_from(VERY_LATE_SHIP)))
    for t in ship_times:
        events.append(
            _event(
                seller,
                "shipment_confirmed",
                t,
                order_id=order_id,
                carrier=draw(st.sampled_from(("UPS", "DHL"))),
                tracking_number=draw(st.one_of(st.none(), st.sampled_from(("1Z9", "JD01")))),
            )
        )
    scan_anchor = ship_times[0] if ship_times else expected_ship
    for _ in range(draw(st.sampled_from((0, 1, 1, 2)))):
        t = draw(near(scan_anchor))
        events.append(_event(seller, "tracking_validated", t, order_id=order_id))
    for _ in range(draw(st.sampled_from((0, 1, 1, 2)))):
        events.append(_event(seller, "delivered", draw(near(promised)), order_id=order_id))
    events += draw(_feedback_events(seller, order_id, placed_ms))
    events += draw(_claim_events(seller, order_id, placed_ms))
    events += draw(_chargeback_events(seller, order_id, placed_ms))
    return events


@st.composite
def _feedback_events(draw: Draw, seller: str, order_id: str, placed_ms: int) -> list[Event]:
    """Received/removed feedback in any order: removed then re-added, late negatives, ties."""
    pool = [placed_ms + d for d in (DAY, 3 * DAY, 15 * DAY)]
    events: list[Event] = []
    for _ in range(draw(st.sampled_from((0, 0, 1, 2, 3)))):
        t = _clamp(draw(st.sampled_from(pool)))
        if draw(st.integers(0, 2)) == 0:
            events.append(_event(seller, "feedback_removed", t, order_id=order_id))
        else:
            rating = draw(st.integers(1, 5))
            events.append(_event(seller, "feedback_received", t, order_id=order_id, rating=rating))
    return events


@st.composite
def _claim_events(draw: Draw, seller: str, order_id: str, placed_ms: int) -> list[Event]:
    """Claims filed and decided, e.g. denied then granted, or decided before filed."""
    pool = [placed_ms + d for d in (2 * DAY, 4 * DAY, 9 * DAY)]
    events: list[Event] = []
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 2, 3)))):
        t = _clamp(draw(st.sampled_from(pool)))
        claim_id = draw(st.sampled_from(CLAIM_IDS))
        if draw(st.booleans()):
            events.append(_event(seller, "claim_filed", t, order_id=order_id, claim_id=claim_id))
        else:
            events.append(
                _event(
                    seller,
                    "claim_decided",
                    t,
                    order_id=order_id,
                    claim_id=claim_id,
                    decision=draw(st.sampled_from(("granted", "denied", "withdrawn"))),
                    seller_at_fault=draw(st.booleans()),
                )
            )
    return events


@st.composite
def _chargeback_events(draw: Draw, seller: str, order_id: str, placed_ms: int) -> list[Event]:
    """Chargebacks filed and reversed, sometimes reversed without a filing."""
    pool = [placed_ms + d for d in (5 * DAY, 6 * DAY)]
    events: list[Event] = []
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 2)))):
        t = _clamp(draw(st.sampled_from(pool)))
        event_type = draw(st.sampled_from(("chargeback_filed", "chargeback_reversed")))
        cb_id = draw(st.sampled_from(CHARGEBACK_IDS))
        events.append(_event(seller, event_type, t, order_id=order_id, chargeback_id=cb_id))
    return events


# ---------------------------------------------------------------- messages and returns


@st.composite
def message_story(draw: Draw, seller: str, message_id: str, order_ids: list[str]) -> list[Event]:
    """A buyer message and replies: at 24h/48h exactly, before the message, or with no message."""
    received_ms = draw(any_time())
    events: list[Event] = []
    for i in range(draw(st.sampled_from((0, 1, 1, 1, 2)))):
        t = received_ms if i == 0 else draw(near(received_ms))
        fields: dict[str, Any] = {"message_id": message_id, "needs_reply": draw(st.booleans())}
        # order_id is optional: present with a value, present as null, or absent.
        link = draw(st.sampled_from(("value", "null", "absent")))
        if link == "value":
            fields["order_id"] = draw(st.sampled_from(order_ids or list(ORDER_IDS)))
        elif link == "null":
            fields["order_id"] = None
        fields.update(draw(dimensions()))
        events.append(_event(seller, "message_received", t, **fields))
    for _ in range(draw(st.sampled_from((0, 1, 1, 2)))):
        anchor = received_ms + draw(st.sampled_from((24 * HOUR, 48 * HOUR, -HOUR)))
        events.append(_event(seller, "seller_replied", draw(near(anchor)), message_id=message_id))
    return events


@st.composite
def return_story(draw: Draw, seller: str, return_id: str, order_ids: list[str]) -> list[Event]:
    """A return: decisions around +48h, refunds around two business days, missing request."""
    requested_ms = draw(any_time())
    received_ms = draw(near(requested_ms + draw(st.sampled_from((DAY, 4 * DAY)))))
    refund_deadline = _plus_business_days(received_ms, 2)
    events: list[Event] = []

    def add(event_type: str, t: int, **fields: Any) -> None:
        events.append(_event(seller, event_type, t, return_id=return_id, **fields))

    for i in range(draw(st.sampled_from((0, 1, 1, 1, 2)))):
        t = requested_ms if i == 0 else draw(near(requested_ms))
        add("return_requested", t, order_id=draw(st.sampled_from(order_ids or list(ORDER_IDS))),
            **draw(dimensions()))
    decision_deadline = requested_ms + 48 * HOUR
    for _ in range(draw(st.sampled_from((0, 1, 1, 2)))):
        add("return_authorised", draw(near(decision_deadline)))
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 2)))):
        add("return_rejected", draw(near(decision_deadline)), within_policy=draw(st.booleans()))
    for i in range(draw(st.sampled_from((0, 1, 1, 2)))):
        add("return_received", received_ms if i == 0 else draw(near(received_ms)))
    for _ in range(draw(st.sampled_from((0, 1, 1, 2)))):
        anchor = draw(st.sampled_from((refund_deadline, decision_deadline)))
        add("refund_issued", draw(near(anchor)))
    for _ in range(draw(st.sampled_from((0, 0, 1, 2)))):
        add("return_feedback", draw(near(received_ms + 3 * DAY)), satisfied=draw(st.booleans()))
    return events


# ---------------------------------------------------------------- logs and delivery


@st.composite
def _shift(draw: Draw, span: str) -> int:
    """How far one story moves from the dense 40 days of 2026."""
    if span == "mixed":
        span = draw(st.sampled_from(SPANS[:-1]))
    if span == "long":
        return draw(st.integers(0, 220)) * DAY + draw(st.sampled_from((0, 0, 1, -1, HOUR)))
    if span == "comeback":
        return draw(st.sampled_from((0, 0, 235 * DAY, 236 * DAY + 7)))
    if span == "epoch":
        return EPOCH_START_MS - START_MS + draw(st.integers(-3, 3)) * DAY
    return 0


def _moved(events: list[Event], by: int) -> list[Event]:
    for e in events:
        for key in ("_ms", "_ship_ms", "_promise_ms"):
            if key in e:
                e[key] += by
    return events


@st.composite
def _seller_events(draw: Draw, seller: str, span: str) -> list[Event]:
    order_ids = draw(st.lists(st.sampled_from(ORDER_IDS), max_size=4, unique=True))
    events: list[Event] = []
    for order_id in order_ids:
        story = draw(order_story(seller, order_id, months=span != "dense"))
        events += _moved(story, draw(_shift(span)))
    for message_id in draw(st.lists(st.sampled_from(MESSAGE_IDS), max_size=3, unique=True)):
        events += _moved(draw(message_story(seller, message_id, order_ids)), draw(_shift(span)))
    for return_id in draw(st.lists(st.sampled_from(RETURN_IDS), max_size=3, unique=True)):
        events += _moved(draw(return_story(seller, return_id, order_ids)), draw(_shift(span)))
    return events


@st.composite
def event_logs(draw: Draw, spans: tuple[str, ...] = ("dense",),
               future: bool = False) -> list[Event]:
    """A non-empty event log (list of event dicts with unique event_ids) for 1-3 sellers.

    `spans`: how each seller's stories spread in time (SPANS); `future`: sometimes copies
    of events dated in the year 2999 (a producer with a broken clock).
    """
    sellers = draw(st.lists(st.sampled_from(SELLER_POOL), min_size=1, max_size=3, unique=True))
    drafts: list[Event] = []
    for seller in sellers:
        drafts += draw(_seller_events(seller, draw(st.sampled_from(spans), label="span")))
    if not drafts:
        # A log needs at least one event to define a watermark.
        drafts.append(_event(sellers[0], "delivered", draw(any_time()), order_id="o0"))
    if future:
        for _ in range(draw(st.sampled_from((0, 1, 1, 2)))):
            copy = dict(draw(st.sampled_from(drafts)))
            drafts.append(_moved([copy], FUTURE_MS + draw(st.integers(0, DAY)) - copy["_ms"])[0])
    # Ids from a shuffled numbering without padding, so string order ("e10" < "e9")
    # disagrees with generation order when same-time LWW writes are tie-broken by id.
    numbers = draw(st.permutations(range(len(drafts))))
    events: list[Event] = []
    for number, draft in zip(numbers, drafts, strict=True):
        ms = draft.pop("_ms")
        event = {"event_id": f"e{number}", "type": draft.pop("type")}
        event["event_time"] = draw(rfc3339(ms))
        if "_ship_ms" in draft:
            draft["expected_ship_at"] = draw(rfc3339(draft.pop("_ship_ms")))
            draft["promised_delivery_at"] = draw(rfc3339(draft.pop("_promise_ms")))
        event.update(draft)
        events.append(event)
    return events


def text_ms(text: str) -> int:
    """An RFC 3339 date-time as integer ms UTC."""
    return (datetime.fromisoformat(text) - _EPOCH) // timedelta(milliseconds=1)


def event_ms(event: Event) -> int:
    """Event time of an event dict as integer ms UTC."""
    return text_ms(event["event_time"])


def deadlines_of(events: list[Event]) -> list[tuple[int, Event]]:
    """Every deadline instant a log's metrics compare the clock against, with the event
    that set it (placed: expected ship and promised delivery; shipped: the 48-hour scan;
    message: 24 and 48 hours; return: the 48-hour decision, the refund's business days)."""
    out: list[tuple[int, Event]] = []
    for e in events:
        t = event_ms(e)
        if e["type"] == "order_placed":
            out += [(text_ms(e["expected_ship_at"]), e), (text_ms(e["promised_delivery_at"]), e)]
        elif e["type"] == "shipment_confirmed":
            out.append((t + 48 * HOUR, e))
        elif e["type"] == "message_received":
            out += [(t + 24 * HOUR, e), (t + 48 * HOUR, e)]
        elif e["type"] == "return_requested":
            out.append((t + 48 * HOUR, e))
        elif e["type"] == "return_received":
            out.append((_plus_business_days(t, 2), e))
    return out


def _deadlines(events: list[Event]) -> list[int]:
    """Deadline instants a log's metrics compare the watermark against."""
    return [d for d, _ in deadlines_of(events)]


@st.composite
def allowed_lateness(draw: Draw, events: list[Event]) -> int:
    """An allowed lateness; often one that puts the final watermark on a deadline or 1 ms off."""
    max_ms = max(event_ms(e) for e in events)
    candidates = [max_ms - d + k for d in _deadlines(events) for k in (-1, 0, 1)]
    candidates = [c for c in candidates if c >= 0]
    choices: list[st.SearchStrategy[int]] = [
        st.just(0),
        st.integers(0, 3 * DAY),
        st.sampled_from((HOUR, DAY, 7 * DAY)),
    ]
    if candidates:
        choices.append(st.sampled_from(candidates))
    lateness: int = draw(st.one_of(*choices))
    return lateness


@st.composite
def delivered(draw: Draw, events: list[Event], lateness_ms: int) -> list[Event]:
    """An arrival order of events plus redeliveries in which no event is too late.

    Each copy gets the key t + delay with delay in [0, lateness_ms], and arrival is by key.
    Why nothing is too late: if e' arrives before e then t(e') <= key(e') <= key(e)
    <= t(e) + lateness_ms, so the max event time seen before e is <= t(e) + lateness_ms
    and the watermark W = max - lateness_ms at e's arrival is <= t(e): not event_time < W.
    """
    keyed: list[tuple[int, Event]] = []
    for event in events:
        copies = 2 if draw(st.integers(0, 4)) == 0 else 1
        for _ in range(copies):
            delay = draw(st.integers(0, lateness_ms))
            keyed.append((event_ms(event) + delay, dict(event)))
    # Equal keys may arrive in any order: a drawn permutation breaks the ties.
    tiebreak = draw(st.permutations(range(len(keyed))))
    order = sorted(range(len(keyed)), key=lambda i: (keyed[i][0], tiebreak[i]))
    return [keyed[i][1] for i in order]


LATE_DELAYS = (1, HOUR, 2 * DAY, 29 * DAY, 30 * DAY, 31 * DAY, 45 * DAY, 300 * DAY)
"""How far past the lateness a late copy may come: a correction, or past the 30-day
horizon (too late)."""


def _tick(number: int, ms: int) -> Event:
    """An event that moves the clock and counts nowhere (a message needing no reply)."""
    return {"event_id": f"tick{number}", "type": "message_received",
            "event_time": _ms_to_text(ms, 0, True, True), "seller_id": CLOCK_SELLER,
            "message_id": f"tick{number}", "needs_reply": False}


def _rival(event: Event) -> Event:
    """A copy of an event under a smaller id at the same time: it loses every LWW tie and
    sets no first time earlier, so it changes no fact, but it makes its object be looked at."""
    return {**event, "event_id": "d-" + event["event_id"]}


@st.composite
def arrivals(draw: Draw, events: list[Event], lateness_ms: int, late: bool = True,
             probes: bool = True) -> list[Event]:
    """An arrival order of the events, with redeliveries; with `late`, some events come
    later than the lateness (some past the 30-day correction horizon); with `probes`, the
    clock is stepped exactly onto deadlines of the log (and 1 ms either side) by a tick
    event, and an event of the deadline's object (a redelivery, or a rival that changes
    no fact) arrives right after, late, so its object is recomputed at that very clock.

    Each copy gets the key t + delay; arrival is by key. With delay <= lateness nothing is
    late (see `delivered`).
    """
    keyed: list[tuple[int, int, Event]] = []
    for event in events:
        copies = 2 if draw(st.integers(0, 4)) == 0 else 1
        for _ in range(copies):
            delay = draw(st.integers(0, lateness_ms))
            if late and draw(st.integers(0, 7)) == 0:
                delay = lateness_ms + draw(st.sampled_from(LATE_DELAYS))
            keyed.append((event_ms(event) + delay, 1, dict(event)))
    if probes:
        targets = deadlines_of(events)
        # Mostly deadlines still pending there, where a comparison with the clock decides.
        targets = [(d, e) for d, e in targets if turns_at(events, d)] or targets
        for n in range(draw(st.integers(0, 4)) if targets else 0):
            d, owner = draw(st.sampled_from(targets))
            tick_at = d + draw(st.sampled_from((-1, 0, 1))) + lateness_ms
            keyed.append((tick_at, 0, _tick(n, tick_at)))
            follower = dict(owner) if draw(st.booleans()) else _rival(owner)
            keyed.append((tick_at, 2, follower))
    # Equal keys arrive in any order, except that a probe's follower comes right after its
    # tick: ties are broken by a drawn permutation within each rank.
    tiebreak = draw(st.permutations(range(len(keyed))))
    order = sorted(range(len(keyed)), key=lambda i: (keyed[i][0], keyed[i][1], tiebreak[i]))
    return [keyed[i][2] for i in order]
