"""Metric definitions: what one object contributes to a seller's rates.

A metric is a pure function of one object's facts, the watermark and the
calendar of the rate (whose local days the anchor days are). It returns 0
when the object does not count, else `Calendar.pack(anchor_ms, in_numerator)`.
Adding a metric is one `Metric(...)` and one `register(...)`; see the worked
example in docs/design.md. Filtering on marketplace and channel is the
engine's (streams.core.engine.Plan), not the metric's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from streams.core.calendar import Calendar
from streams.core.clock import HOUR_MS
from streams.core.facts import ORDER_MAX_AGE_MS, MessageFacts, OrderFacts, ReturnFacts
from streams.errors import UnknownMetric

Kind = Literal["order", "message", "return"]
KINDS: Final[tuple[Kind, ...]] = ("order", "message", "return")

Contribution = Callable[[Any, int, Calendar], int]
"""(facts, watermark_ms, calendar) -> 0, or `Calendar.pack(anchor_ms, in_numerator)`."""
Deadlines = Callable[[Any, Calendar], tuple[int, ...]]
"""(facts, calendar) -> the times at which the contribution may change with no event."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One rate over one kind of object."""

    name: str
    """Registry key, referenced by target profiles."""
    kind: Kind
    """Which objects it counts."""
    contribution: Contribution
    """The object's contribution given its facts and the watermark."""
    deadlines: Deadlines
    """Times at which the contribution may still change with no new event (none once
    the outcome no longer depends on the clock)."""
    numerator_is_bad: bool
    """True when the numerator counts defects (the order ids of an alert)."""
    title: str
    """Human-readable name."""
    reads: frozenset[str] = frozenset()
    """Fact fields the contribution reads; events writing none of them skip the metric.
    Empty means all fields (always recomputed)."""


_REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Make a metric available to target profiles."""
    _REGISTRY[metric.name] = metric
    return metric


def get_metric(name: str) -> Metric:
    """Look a metric up by name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownMetric(f"metric {name!r} is not registered; known: {known}") from None


def registered() -> dict[str, Metric]:
    """All registered metrics by name."""
    return dict(_REGISTRY)


def _none(_: Any, cal: Calendar) -> tuple[int, ...]:
    return ()


# -- orders -----------------------------------------------------------------


def shipped_ms(f: OrderFacts) -> int | None:
    """When the order was ship-confirmed, if it was within its maximum age (a later
    confirmation does not count as shipping it); the order must have been placed."""
    ship_ms = f.ship_ms
    if ship_ms is None or ship_ms > f.placed_ms + ORDER_MAX_AGE_MS:  # type: ignore[operator]
        return None
    return ship_ms


def _order_defect(f: OrderFacts, wm: int, cal: Calendar) -> int:
    if f.placed_ms is None:
        return 0
    rating = f.rating
    bad = (rating is not None and rating <= 2) or f.has_defect_claim_or_chargeback()
    return cal.pack(f.placed_ms, bad)


def _negative_feedback(f: OrderFacts, wm: int, cal: Calendar) -> int:
    if f.placed_ms is None:
        return 0
    return cal.pack(f.placed_ms, f.rating is not None and f.rating <= 2)


def _seller_cancel(f: OrderFacts, wm: int, cal: Calendar) -> int:
    if f.placed_ms is None or f.channel != "seller":
        return 0
    by = f.cancelled_by
    return cal.pack(f.placed_ms, by == "seller" or by == "system")


def _late_shipment(f: OrderFacts, wm: int, cal: Calendar) -> int:
    if f.placed_ms is None or f.channel != "seller":
        return 0
    ship_ms = shipped_ms(f)
    if ship_ms is None:
        if f.cancelled_by is not None:
            return 0
        return cal.pack(f.expected_ship_ms, wm > f.expected_ship_ms)
    return cal.pack(f.expected_ship_ms, ship_ms > f.expected_ship_ms)


def _late_shipment_deadlines(f: OrderFacts, cal: Calendar) -> tuple[int, ...]:
    # Only while the outcome still waits on the clock: a seller-fulfilled order, not
    # shipped, not cancelled.
    if (f.placed_ms is None or f.channel != "seller" or shipped_ms(f) is not None
            or f.cancelled_by is not None):
        return ()
    return (f.expected_ship_ms,)


_SCAN_DUE_MS: Final = 48 * HOUR_MS


def _valid_tracking(f: OrderFacts, wm: int, cal: Calendar) -> int:
    if f.placed_ms is None or f.channel != "seller" or (ship_ms := shipped_ms(f)) is None:
        return 0
    if f.tracking_ms is None:
        # Pending until the scan is due, so a fresh shipment does not count as invalid.
        return cal.pack(ship_ms, False) if wm > ship_ms + _SCAN_DUE_MS else 0
    return cal.pack(ship_ms, True)


def _scan_deadline(f: OrderFacts, cal: Calendar) -> tuple[int, ...]:
    # Exactly when `_valid_tracking` reads the clock.
    if (f.placed_ms is None or f.channel != "seller" or (ship_ms := shipped_ms(f)) is None
            or f.tracking_ms is not None):
        return ()
    return (ship_ms + _SCAN_DUE_MS,)


def _on_time_delivery(f: OrderFacts, wm: int, cal: Calendar) -> int:
    if (f.placed_ms is None or f.channel != "seller" or shipped_ms(f) is None
            or f.tracking_ms is None):
        return 0
    delivered = f.delivered_ms
    if delivered is None:
        return cal.pack(f.promised_ms, False) if wm > f.promised_ms else 0
    return cal.pack(f.promised_ms, delivered <= f.promised_ms)


def _promised_deadline(f: OrderFacts, cal: Calendar) -> tuple[int, ...]:
    # Exactly when `_on_time_delivery` reads the clock.
    if (f.placed_ms is None or f.channel != "seller" or shipped_ms(f) is None
            or f.tracking_ms is None or f.delivered_ms is not None):
        return ()
    return (f.promised_ms,)


def _transaction_defect(f: OrderFacts, wm: int, cal: Calendar) -> int:
    if f.placed_ms is None:
        return 0
    by = f.cancelled_by
    bad = by == "seller" or by == "system"
    if not bad and f.claims:
        bad = any(state == "granted" and fault for _, state, fault in f.claims.values())
    return cal.pack(f.placed_ms, bad)


# -- messages ---------------------------------------------------------------


def contact_response(hours: int) -> Metric:
    """Buyer messages needing a reply, answered within `hours` (good numerator)."""
    limit_ms = hours * HOUR_MS

    def contribution(f: MessageFacts, wm: int, cal: Calendar) -> int:
        received = f.received_ms
        if received is None or not f.needs_reply:
            return 0
        due = received + limit_ms
        replied = f.replied_ms
        if replied is None:
            return cal.pack(received, False) if wm > due else 0
        return cal.pack(received, replied <= due)

    def deadlines(f: MessageFacts, cal: Calendar) -> tuple[int, ...]:
        if f.received_ms is None or not f.needs_reply or f.replied_ms is not None:
            return ()
        return (f.received_ms + limit_ms,)

    name = "contact_response" if hours == 24 else f"contact_response_{hours}h"
    return Metric(
        name, "message", contribution, deadlines, False, f"Replies within {hours} hours",
        reads=frozenset({"received_ms", "needs_reply", "replied_ms", "marketplace", "channel"}),
    )


# -- returns ----------------------------------------------------------------

_RETURN_DECISION_MS: Final = 48 * HOUR_MS


def _return_dissatisfaction(f: ReturnFacts, wm: int, cal: Calendar) -> int:
    requested = f.requested_ms
    if requested is None:
        return 0
    if f.satisfied is False or f.rejected_invalid:
        return cal.pack(requested, True)
    due = requested + _RETURN_DECISION_MS
    decision = min(
        (t for t in (f.authorised_ms, f.rejected_ms, f.refunded_ms) if t is not None),
        default=None,
    )
    if decision is None:
        return cal.pack(requested, wm > due)
    return cal.pack(requested, decision > due)


def _return_deadlines(f: ReturnFacts, cal: Calendar) -> tuple[int, ...]:
    decided = (f.authorised_ms, f.rejected_ms, f.refunded_ms)
    if f.requested_ms is None or any(t is not None for t in decided):
        return ()
    return (f.requested_ms + _RETURN_DECISION_MS,)


def _refund_timeliness(f: ReturnFacts, wm: int, cal: Calendar) -> int:
    received = f.received_ms
    if received is None:
        return 0
    due = cal.add_business_days(received, 2)
    refunded = f.refunded_ms
    return cal.pack(received, (wm > due) if refunded is None else refunded > due)


def _refund_deadlines(f: ReturnFacts, cal: Calendar) -> tuple[int, ...]:
    if f.received_ms is None or f.refunded_ms is not None:
        return ()
    return (cal.add_business_days(f.received_ms, 2),)


_PLACED: Final = frozenset({"placed_ms", "channel", "marketplace"})

ORDER_DEFECT = register(Metric(
    "order_defect", "order", _order_defect, _none, True, "Order defect rate",
    reads=_PLACED | {"rating", "claims", "chargebacks"},
))
SELLER_CANCEL = register(Metric(
    "seller_cancel", "order", _seller_cancel, _none, True, "Seller cancel rate",
    reads=_PLACED | {"cancelled_by"},
))
LATE_SHIPMENT = register(Metric(
    "late_shipment", "order", _late_shipment, _late_shipment_deadlines, True,
    "Late shipment rate",
    reads=_PLACED | {"expected_ship_ms", "ship_ms", "cancelled_by"},
))
VALID_TRACKING = register(Metric(
    "valid_tracking", "order", _valid_tracking, _scan_deadline, False, "Valid tracking rate",
    reads=_PLACED | {"ship_ms", "tracking_ms"},
))
ON_TIME_DELIVERY = register(Metric(
    "on_time_delivery", "order", _on_time_delivery, _promised_deadline, False,
    "On-time delivery rate",
    reads=_PLACED | {"promised_ms", "ship_ms", "tracking_ms", "delivered_ms"},
))
CONTACT_RESPONSE = register(contact_response(24))
CONTACT_RESPONSE_48H = register(contact_response(48))
RETURN_DISSATISFACTION = register(Metric(
    "return_dissatisfaction", "return", _return_dissatisfaction, _return_deadlines, True,
    "Return dissatisfaction rate",
    reads=frozenset({"requested_ms", "satisfied", "rejected_invalid", "authorised_ms",
                     "rejected_ms", "refunded_ms", "marketplace", "channel"}),
))
REFUND_TIMELINESS = register(Metric(
    "refund_timeliness", "return", _refund_timeliness, _refund_deadlines, True,
    "Late refund rate",
    reads=frozenset({"received_ms", "refunded_ms", "marketplace", "channel"}),
))
NEGATIVE_FEEDBACK = register(Metric(
    "negative_feedback", "order", _negative_feedback, _none, True, "Negative feedback rate",
    reads=_PLACED | {"rating"},
))
TRANSACTION_DEFECT = register(Metric(
    "transaction_defect", "order", _transaction_defect, _none, True,
    "Transaction defect rate",
    reads=_PLACED | {"cancelled_by", "claims"},
))
