"""Brute-force recomputation of seller metrics written straight from docs/semantics.md."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAY = 86_400_000
HOUR = 3_600_000
ORDER_MAX_AGE_MS = 180 * DAY
"""A ship confirmation later than placed + this does not count as shipping."""
MAX_CORRECTION_MS = 30 * DAY
"""A late event older than the clock less this is too late to apply."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

ORDER_TYPES = frozenset(
    {
        "order_placed",
        "order_cancelled",
        "feedback_received",
        "feedback_removed",
        "claim_filed",
        "claim_decided",
        "chargeback_filed",
        "chargeback_reversed",
        "shipment_confirmed",
        "tracking_validated",
        "delivered",
    }
)
MESSAGE_TYPES = frozenset({"message_received", "seller_replied"})
RETURN_TYPES = frozenset(
    {
        "return_requested",
        "return_authorised",
        "return_rejected",
        "return_received",
        "refund_issued",
        "return_feedback",
    }
)

Contribution = tuple[int, bool] | None
Entry = tuple[str, str, int, int] | tuple[str, str, int, int, str | None, str | None]
"""(name, metric, window days, lag days[, marketplace filter, channel filter])."""
Calendars = dict[str, tuple[str, frozenset[date]]]
"""Marketplace -> (IANA time zone, holidays); a marketplace not in it is UTC, no holidays."""

# The calendar whose days the metric being recomputed counts in (set by `recompute` per
# entry), and every marketplace's (for date-only promises).
_UTC: tuple[str, frozenset[date]] = ("UTC", frozenset())
_zone = _UTC
_calendars: Calendars = {}


def deploy_calendars() -> Calendars:
    """The calendar files the engine reads by default (deploy/calendars), read here."""
    import tomllib
    from pathlib import Path

    out = {}
    for path in (Path(__file__).parents[1] / "deploy" / "calendars").glob("*.toml"):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        out[path.stem] = (data["time_zone"], frozenset(data.get("holidays", [])))
    return out


def _local(ms: int, zone: str) -> datetime:
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(ZoneInfo(zone))


def _instant(local: datetime) -> int:
    return (local - _EPOCH) // _ONE_MS


def _promise_end(ms: int, marketplace: str) -> int:
    """A promise at local midnight of the order's marketplace means the end of that day."""
    zone = _calendars.get(marketplace, ("UTC", frozenset()))[0]
    local = _local(ms, zone)
    if local.time() != time(0):
        return ms
    return _instant(datetime.combine(local.date() + timedelta(days=1), time(0),
                                     tzinfo=ZoneInfo(zone))) - 1


def parse_ms(text: str) -> int:
    """Parse an RFC 3339 date-time with offset into integer ms since the epoch, UTC."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"date-time without offset: {text!r}")
    # timedelta // timedelta floors, so sub-millisecond digits are dropped toward -inf.
    return (parsed - _EPOCH) // _ONE_MS


def day_of(ms: int) -> int:
    """Local day number of a time in ms in the current calendar (day 0 = 1970-01-01)."""
    return (_local(ms, _zone[0]).date() - date(1970, 1, 1)).days


def is_business_day(day: int) -> bool:
    """True when the day number is a Monday..Friday (day 0 was a Thursday)."""
    return (day + 3) % 7 < 5


def add_business_days(ms: int, n: int) -> int:
    """Step forward local dates until n Monday..Friday non-holidays have been stepped onto;
    the same local wall time on the date reached."""
    zone, holidays = _zone
    local = _local(ms, zone)
    d = local.date()
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5 and d not in holidays:
            n -= 1
    return _instant(datetime.combine(d, local.time(), tzinfo=ZoneInfo(zone)))


@dataclass(frozen=True)
class Event:
    """One deduplicated event with its parsed time."""

    ms: int
    event_id: str
    type: str
    data: dict[str, Any]

    def lww_key(self) -> tuple[int, str]:
        """Ordering used by last-writer-wins registers."""
        return (self.ms, self.event_id)


def _first_time(events: Iterable[Event], event_type: str) -> int | None:
    return min((e.ms for e in events if e.type == event_type), default=None)


def _last_writer(events: Iterable[Event], types: set[str]) -> Event | None:
    return max((e for e in events if e.type in types), key=Event.lww_key, default=None)


# ---------------------------------------------------------------- facts


@dataclass
class OrderFacts:
    """Folded facts of one order."""

    placed: Event | None
    cancelled_by: str | None
    ship_ms: int | None
    tracking_ms: int | None
    delivered_ms: int | None
    rating: int | None
    claims: dict[str, tuple[str, bool]] = field(default_factory=dict)
    chargebacks_active: dict[str, bool] = field(default_factory=dict)

    @property
    def placed_ms(self) -> int:
        """Event time of the winning order_placed."""
        assert self.placed is not None
        return self.placed.ms

    @property
    def expected_ship_ms(self) -> int:
        """Expected ship time of the winning order_placed."""
        assert self.placed is not None
        return parse_ms(self.placed.data["expected_ship_at"])

    @property
    def promised_ms(self) -> int:
        """Promised delivery time of the winning order_placed."""
        assert self.placed is not None
        return _promise_end(parse_ms(self.placed.data["promised_delivery_at"]),
                            self.placed.data["marketplace"])

    @property
    def shipped_ms(self) -> int | None:
        """The first ship time, unless it is later than placed + ORDER_MAX_AGE (not shipping)."""
        if self.ship_ms is None or self.ship_ms > self.placed_ms + ORDER_MAX_AGE_MS:
            return None
        return self.ship_ms

    @property
    def seller_fulfilled(self) -> bool:
        """True for a placed order with channel 'seller'."""
        return self.placed is not None and self.placed.data["channel"] == "seller"


def _registers_by_id(
    events: list[Event], id_field: str, types: set[str]
) -> list[tuple[str, Event]]:
    """Winning event of each per-id LWW register (claims, chargebacks)."""
    ids = {e.data[id_field] for e in events if e.type in types}
    winners = []
    for reg_id in sorted(ids):
        last = _last_writer([e for e in events if e.data.get(id_field) == reg_id], types)
        assert last is not None
        winners.append((reg_id, last))
    return winners


def fold_order(events: list[Event]) -> OrderFacts:
    """Fold all events of one order into its facts."""
    cancel = _last_writer(events, {"order_cancelled"})
    feedback = _last_writer(events, {"feedback_received", "feedback_removed"})
    rating = None
    if feedback is not None and feedback.type == "feedback_received":
        rating = feedback.data["rating"]
    claims: dict[str, tuple[str, bool]] = {}
    for claim_id, last in _registers_by_id(events, "claim_id", {"claim_filed", "claim_decided"}):
        if last.type == "claim_filed":
            claims[claim_id] = ("open", False)
        else:
            claims[claim_id] = (last.data["decision"], bool(last.data["seller_at_fault"]))
    chargebacks = {
        cb_id: last.type == "chargeback_filed"
        for cb_id, last in _registers_by_id(
            events, "chargeback_id", {"chargeback_filed", "chargeback_reversed"}
        )
    }
    return OrderFacts(
        placed=_last_writer(events, {"order_placed"}),
        cancelled_by=None if cancel is None else cancel.data["cancelled_by"],
        ship_ms=_first_time(events, "shipment_confirmed"),
        tracking_ms=_first_time(events, "tracking_validated"),
        delivered_ms=_first_time(events, "delivered"),
        rating=rating,
        claims=claims,
        chargebacks_active=chargebacks,
    )


@dataclass
class MessageFacts:
    """Folded facts of one buyer message."""

    received: Event | None
    replied_ms: int | None


def fold_message(events: list[Event]) -> MessageFacts:
    """Fold all events of one message into its facts."""
    return MessageFacts(
        received=_last_writer(events, {"message_received"}),
        replied_ms=_first_time(events, "seller_replied"),
    )


@dataclass
class ReturnFacts:
    """Folded facts of one return."""

    requested: Event | None
    authorised_ms: int | None
    rejected_ms: int | None
    received_ms: int | None
    refunded_ms: int | None
    rejected_invalid: bool
    satisfied: bool | None


def fold_return(events: list[Event]) -> ReturnFacts:
    """Fold all events of one return into its facts."""
    feedback = _last_writer(events, {"return_feedback"})
    return ReturnFacts(
        requested=_last_writer(events, {"return_requested"}),
        authorised_ms=_first_time(events, "return_authorised"),
        rejected_ms=_first_time(events, "return_rejected"),
        received_ms=_first_time(events, "return_received"),
        refunded_ms=_first_time(events, "refund_issued"),
        rejected_invalid=any(
            e.type == "return_rejected" and e.data["within_policy"] is False for e in events
        ),
        satisfied=None if feedback is None else bool(feedback.data["satisfied"]),
    )


# ---------------------------------------------------------------- metrics


def _passed(w: int, deadline: int) -> bool:
    return w > deadline


def m_order_defect(o: OrderFacts, w: int) -> Contribution:
    """Negative feedback, open or at-fault granted claim or active chargeback, by placed day."""
    if o.placed is None:
        return None
    defect = (
        o.rating in (1, 2)
        or any(state == "open" or (state == "granted" and at_fault)
               for state, at_fault in o.claims.values())
        or any(o.chargebacks_active.values())
    )
    return (day_of(o.placed_ms), defect)


def m_negative_feedback(o: OrderFacts, w: int) -> Contribution:
    """Feedback rating 1 or 2, by placed day."""
    if o.placed is None:
        return None
    return (day_of(o.placed_ms), o.rating in (1, 2))


def m_transaction_defect(o: OrderFacts, w: int) -> Contribution:
    """Seller/system cancel or granted at-fault claim, by placed day."""
    if o.placed is None:
        return None
    defect = o.cancelled_by in ("seller", "system") or any(
        state == "granted" and at_fault for state, at_fault in o.claims.values()
    )
    return (day_of(o.placed_ms), defect)


def m_seller_cancel(o: OrderFacts, w: int) -> Contribution:
    """Seller-fulfilled orders cancelled by seller or system, by placed day."""
    if not o.seller_fulfilled:
        return None
    return (day_of(o.placed_ms), o.cancelled_by in ("seller", "system"))


def m_late_shipment(o: OrderFacts, w: int) -> Contribution:
    """Shipped after the expected ship time, or still unshipped past it."""
    if not o.seller_fulfilled:
        return None
    ship_ms = o.shipped_ms
    if ship_ms is None and o.cancelled_by is not None:
        return None
    late = (ship_ms is not None and ship_ms > o.expected_ship_ms) or (
        ship_ms is None and _passed(w, o.expected_ship_ms)
    )
    return (day_of(o.expected_ship_ms), late)


def m_valid_tracking(o: OrderFacts, w: int) -> Contribution:
    """Shipped orders with a first carrier scan, by ship day, once scanned or 48 h on."""
    if not o.seller_fulfilled or o.shipped_ms is None:
        return None
    ship_ms = o.shipped_ms
    if o.tracking_ms is None and not _passed(w, ship_ms + 48 * HOUR):
        return None
    return (day_of(ship_ms), o.tracking_ms is not None)


def m_on_time_delivery(o: OrderFacts, w: int) -> Contribution:
    """Tracked shipments delivered by the promised time, by promised day."""
    if not o.seller_fulfilled or o.shipped_ms is None or o.tracking_ms is None:
        return None
    if o.delivered_ms is None and not _passed(w, o.promised_ms):
        return None
    on_time = o.delivered_ms is not None and o.delivered_ms <= o.promised_ms
    return (day_of(o.promised_ms), on_time)


def _contact_response(m: MessageFacts, w: int, hours: int) -> Contribution:
    if m.received is None or m.received.data["needs_reply"] is not True:
        return None
    deadline = m.received.ms + hours * HOUR
    if m.replied_ms is None and not _passed(w, deadline):
        return None
    on_time = m.replied_ms is not None and m.replied_ms <= deadline
    return (day_of(m.received.ms), on_time)


def m_contact_response(m: MessageFacts, w: int) -> Contribution:
    """Messages needing a reply answered within 24 hours, by received day."""
    return _contact_response(m, w, 24)


def m_contact_response_48h(m: MessageFacts, w: int) -> Contribution:
    """Messages needing a reply answered within 48 hours, by received day."""
    return _contact_response(m, w, 48)


def m_return_dissatisfaction(r: ReturnFacts, w: int) -> Contribution:
    """Unhappy, invalidly rejected or slowly decided returns, by requested day."""
    if r.requested is None:
        return None
    requested_ms = r.requested.ms
    deadline = requested_ms + 48 * HOUR
    decisions = [t for t in (r.authorised_ms, r.rejected_ms, r.refunded_ms) if t is not None]
    decision_ms = min(decisions, default=None)
    bad = (
        r.satisfied is False
        or r.rejected_invalid
        or (decision_ms is not None and decision_ms > deadline)
        or (decision_ms is None and _passed(w, deadline))
    )
    return (day_of(requested_ms), bad)


def m_refund_timeliness(r: ReturnFacts, w: int) -> Contribution:
    """Received returns refunded later than two business days, by received day."""
    if r.received_ms is None:
        return None
    deadline = add_business_days(r.received_ms, 2)
    late = (r.refunded_ms is not None and r.refunded_ms > deadline) or (
        r.refunded_ms is None and _passed(w, deadline)
    )
    return (day_of(r.received_ms), late)


ORDER_METRICS: dict[str, Callable[[OrderFacts, int], Contribution]] = {
    "order_defect": m_order_defect,
    "negative_feedback": m_negative_feedback,
    "transaction_defect": m_transaction_defect,
    "seller_cancel": m_seller_cancel,
    "late_shipment": m_late_shipment,
    "valid_tracking": m_valid_tracking,
    "on_time_delivery": m_on_time_delivery,
}
MESSAGE_METRICS: dict[str, Callable[[MessageFacts, int], Contribution]] = {
    "contact_response": m_contact_response,
    "contact_response_48h": m_contact_response_48h,
}
RETURN_METRICS: dict[str, Callable[[ReturnFacts, int], Contribution]] = {
    "return_dissatisfaction": m_return_dissatisfaction,
    "refund_timeliness": m_refund_timeliness,
}


# ---------------------------------------------------------------- driver


def _dedupe(events: list[dict[str, Any]]) -> list[Event]:
    by_id: dict[str, dict[str, Any]] = {}
    for raw in events:
        seen = by_id.setdefault(raw["event_id"], raw)
        # A redelivery must be an identical copy; anything else is a broken test log.
        if seen != raw:
            raise ValueError(f"event_id {raw['event_id']!r} reused with different content")
    return [Event(parse_ms(r["event_time"]), r["event_id"], r["type"], r) for r in by_id.values()]


def _object_key(e: Event) -> tuple[str, str, str]:
    seller = e.data["seller_id"]
    if e.type in ORDER_TYPES:
        return ("order", seller, e.data["order_id"])
    if e.type in MESSAGE_TYPES:
        return ("message", seller, e.data["message_id"])
    if e.type in RETURN_TYPES:
        return ("return", seller, e.data["return_id"])
    raise ValueError(f"unknown event type {e.type!r}")


Folded = tuple[str, str, OrderFacts | MessageFacts | ReturnFacts]


def _fold_all(grouped: dict[tuple[str, str, str], list[Event]]) -> list[Folded]:
    """(kind, seller, facts) of every object."""
    out: list[Folded] = []
    for (kind, seller, _), evs in grouped.items():
        if kind == "order":
            out.append((kind, seller, fold_order(evs)))
        elif kind == "message":
            out.append((kind, seller, fold_message(evs)))
        else:
            out.append((kind, seller, fold_return(evs)))
    return out


def _dimensions(facts: OrderFacts | MessageFacts | ReturnFacts) -> tuple[str | None, str | None]:
    """(marketplace, channel) of an object: those of its registering event, if given."""
    register = (facts.placed if isinstance(facts, OrderFacts) else
                facts.received if isinstance(facts, MessageFacts) else facts.requested)
    if register is None:
        return (None, None)
    return (register.data.get("marketplace"), register.data.get("channel"))


def _contributions(folded: list[Folded], metric: str, w: int,
                   dims: tuple[str | None, str | None] = (None, None),
                   ) -> list[tuple[str, Contribution]]:
    """(seller, contribution) of every object the metric applies to that matches the
    (marketplace, channel) filter (None: any)."""
    out: list[tuple[str, Contribution]] = []
    for kind, seller, facts in folded:
        if dims != (None, None) and not all(
                want is None or want == got
                for want, got in zip(dims, _dimensions(facts), strict=True)):
            continue
        if kind == "order" and metric in ORDER_METRICS:
            assert isinstance(facts, OrderFacts)
            out.append((seller, ORDER_METRICS[metric](facts, w)))
        elif kind == "message" and metric in MESSAGE_METRICS:
            assert isinstance(facts, MessageFacts)
            out.append((seller, MESSAGE_METRICS[metric](facts, w)))
        elif kind == "return" and metric in RETURN_METRICS:
            assert isinstance(facts, ReturnFacts)
            out.append((seller, RETURN_METRICS[metric](facts, w)))
    return out


def _check_metrics(entries: list[Entry]) -> None:
    unknown = {e[1] for e in entries} - {*ORDER_METRICS, *MESSAGE_METRICS, *RETURN_METRICS}
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}")


def group_objects(events: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[Event]]:
    """The deduplicated events of each object, keyed (kind, seller, object id)."""
    grouped: dict[tuple[str, str, str], list[Event]] = defaultdict(list)
    for e in _dedupe(events):
        grouped[_object_key(e)].append(e)
    return grouped


def window_of(clock_ms: int, window_days: int, lag_days: int) -> tuple[int, int]:
    """First and last day (inclusive) of a window at a clock."""
    end = day_of(clock_ms) - lag_days
    return end - window_days + 1, end


def rates_at(
    events: list[dict[str, Any]], entries: list[Entry], clock_ms: int,
    calendars: Calendars | None = None, default_calendar: str | None = None,
) -> dict[tuple[str, str], tuple[int, int]]:
    """(numerator, denominator) per (seller, entry) of the events folded, at clock C.

    An entry filtered on a marketplace counts in that marketplace's calendar (days in its
    zone, its holidays); any other in `default_calendar`'s (UTC when None). `calendars`
    None: those of deploy/calendars, as the engine's default."""
    global _zone, _calendars
    _calendars = deploy_calendars() if calendars is None else calendars
    _check_metrics(entries)
    grouped = group_objects(events)
    sellers = {seller for _, seller, _ in grouped}
    folded = _fold_all(grouped)
    result: dict[tuple[str, str], tuple[int, int]] = {}
    for entry_name, metric, window_days, lag_days, *filters in entries:
        dims = (filters[0], filters[1]) if filters else (None, None)
        _zone = _calendars.get(dims[0] or default_calendar or "", _UTC)
        start, end = window_of(clock_ms, window_days, lag_days)
        totals = {seller: [0, 0] for seller in sellers}
        for seller, contribution in _contributions(folded, metric, clock_ms, dims):
            if contribution is None:
                continue
            anchor, in_numerator = contribution
            if start <= anchor <= end:
                totals[seller][0] += int(in_numerator)
                totals[seller][1] += 1
        for seller, (num, den) in totals.items():
            result[(seller, entry_name)] = (num, den)
    _zone = _UTC
    return result


def recompute(
    events: list[dict[str, Any]], entries: list[Entry], allowed_lateness_ms: int,
    calendars: Calendars | None = None, default_calendar: str | None = None,
) -> tuple[int, dict[tuple[str, str], tuple[int, int]]]:
    """Clock (max event time less the lateness) and the rates at it, from scratch."""
    _check_metrics(entries)
    evs = _dedupe(events)
    if not evs:
        raise ValueError("the watermark is undefined without events")
    w = max(e.ms for e in evs) - allowed_lateness_ms
    return w, rates_at(events, entries, w, calendars, default_calendar)


# ---------------------------------------------------------------- arrivals

ON_TIME = "on_time"
LATE = "late"
TOO_LATE = "too_late"
FUTURE = "future"


@dataclass
class Arrivals:
    """What the replay driver's one clock makes of an arrival sequence."""

    fates: list[str]
    """Per arrival: on_time, late (applied as a correction), too_late or future."""
    clocks: list[int | None]
    """Per arrival, the clock C in force when it arrived (None before the first event)."""
    final_clock_ms: int | None
    """The clock after the flush: the greatest event time accepted (None if none)."""

    def applied(self, arrivals: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The arrivals that are applied (on time or late)."""
        return [e for e, f in zip(arrivals, self.fates, strict=True) if f in (ON_TIME, LATE)]

    def rejected(self, arrivals: list[dict[str, Any]], fate: str) -> list[dict[str, Any]]:
        """The arrivals dead-lettered with a reason."""
        return [e for e, f in zip(arrivals, self.fates, strict=True) if f == fate]


def classify(
    arrivals: list[dict[str, Any]],
    allowed_lateness_ms: int,
    now_ms: int | None = None,
    max_future_skew_ms: int = 300_000,
) -> Arrivals:
    """The fate of each arrival under the replay driver's clock rule (docs/semantics.md).

    W = greatest event time accepted so far less the lateness; after each event the
    clock C moves to W. An event later than now + skew is `future` (and moves nothing);
    one with event_time < W at its arrival is late, and too late if event_time < C - 30 days.
    """
    fates: list[str] = []
    clocks: list[int | None] = []
    max_seen: int | None = None
    for raw in arrivals:
        t = parse_ms(raw["event_time"])
        clock = None if max_seen is None else max_seen - allowed_lateness_ms
        clocks.append(clock)
        if now_ms is not None and t > now_ms + max_future_skew_ms:
            fates.append(FUTURE)
        elif clock is not None and t < clock:
            fates.append(TOO_LATE if t < clock - MAX_CORRECTION_MS else LATE)
        else:
            fates.append(ON_TIME)
            max_seen = t if max_seen is None else max(max_seen, t)
    return Arrivals(fates, clocks, max_seen)


def turns_at(events: list[dict[str, Any]], deadline_ms: int) -> bool:
    """True when some object's contribution to some metric changes as the clock passes
    the deadline (between clock d and d + 1): the deadline is still pending there."""
    for kind, _, facts in _fold_all(group_objects(events)):
        metrics: dict[str, Any] = {"order": ORDER_METRICS, "message": MESSAGE_METRICS,
                                   "return": RETURN_METRICS}[kind]
        for fn in metrics.values():
            if fn(facts, deadline_ms) != fn(facts, deadline_ms + 1):
                return True
    return False
