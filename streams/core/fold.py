"""How each event type folds into the facts of its object (docs/semantics.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from streams.core import events as ev
from streams.core.facts import (
    CLAIM_OPEN,
    MAX_CORRECTION_MS,
    ORDER_MAX_AGE_MS,
    RETURN_MAX_AGE_MS,
    Facts,
    MessageFacts,
    OrderFacts,
    ReturnFacts,
    first,
)
from streams.core.metrics import Kind

if TYPE_CHECKING:
    from streams.core.calendar import Calendars
    from streams.core.window import SellerState

Sizes = Mapping[Kind, int]
"""Per kind of object, how many metric contributions its facts hold."""
ORPHAN_HORIZON_MS: Final = 90 * 86_400_000
"""How long facts of an object whose opening event never came are kept."""
LATE_FACT_HORIZON_MS: Final = 90 * 86_400_000
"""Feedback and claims can come this long after the order or its delivery date."""


def _order(seller: SellerState, event: ev.OrderEvent, t: int, sizes: Sizes) -> OrderFacts:
    held = seller.held_orders()
    f = held.get(event.order_id)
    if f is None:
        f = held[event.order_id] = OrderFacts(event.order_id, sizes["order"])
    if t > f.last_ms:
        f.last_ms = t
    return f


def _message(seller: SellerState, message_id: str, t: int, sizes: Sizes) -> MessageFacts:
    held = seller.held_messages()
    f = held.get(message_id)
    if f is None:
        f = held[message_id] = MessageFacts(message_id, sizes["message"])
    if t > f.last_ms:
        f.last_ms = t
    return f


def _return(seller: SellerState, event: ev.ReturnEvent, t: int, sizes: Sizes) -> ReturnFacts:
    held = seller.held_returns()
    f = held.get(event.return_id)
    if f is None:
        f = held[event.return_id] = ReturnFacts(
            event.return_id, sizes["return"]
        )
    if t > f.last_ms:
        f.last_ms = t
    return f


def _ms(value: datetime) -> int:
    return ev.datetime_ms(value)


def _placed(s: SellerState, e: ev.OrderPlaced, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _order(s, e, t, p)
    if f.placed_ms is None or (t, e.event_id) > (f.placed_ms, f.placed_id):
        f.placed_ms = t
        f.placed_id = e.event_id
        f.expected_ship_ms = _ms(e.expected_ship_at)
        f.promised_ms = _ms(e.promised_delivery_at)
        f.channel = sys.intern(e.channel)  # a handful of distinct values: share them
        f.marketplace = sys.intern(e.marketplace)
        f.units = e.units
    return "order", f


def _cancelled(s: SellerState, e: ev.OrderCancelled, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _order(s, e, t, p)
    stamp = (t, e.event_id)
    if stamp > f.cancel_stamp:
        f.cancel_stamp = stamp
        f.cancelled_by = e.cancelled_by
    return "order", f


def _feedback(s: SellerState, e: ev.OrderEvent, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _order(s, e, t, p)
    stamp = (t, e.event_id)
    if stamp > f.feedback_stamp:
        f.feedback_stamp = stamp
        f.rating = e.rating if isinstance(e, ev.FeedbackReceived) else None
    return "order", f


def _claim(s: SellerState, e: ev.OrderEvent, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _order(s, e, t, p)
    if isinstance(e, ev.ClaimDecided):
        f.set_claim(e.claim_id, (t, e.event_id), e.decision, e.seller_at_fault)
    elif isinstance(e, ev.ClaimFiled):
        f.set_claim(e.claim_id, (t, e.event_id), CLAIM_OPEN, False)
    return "order", f


def _chargeback(s: SellerState, e: ev.OrderEvent, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _order(s, e, t, p)
    if isinstance(e, ev.ChargebackFiled | ev.ChargebackReversed):
        f.set_chargeback(e.chargeback_id, (t, e.event_id), isinstance(e, ev.ChargebackFiled))
    return "order", f


def _shipped(s: SellerState, e: ev.OrderEvent, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _order(s, e, t, p)
    f.ship_ms = first(f.ship_ms, t)
    return "order", f


def _tracked(s: SellerState, e: ev.OrderEvent, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _order(s, e, t, p)
    f.tracking_ms = first(f.tracking_ms, t)
    return "order", f


def _delivered(s: SellerState, e: ev.OrderEvent, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _order(s, e, t, p)
    f.delivered_ms = first(f.delivered_ms, t)
    return "order", f


def _received_msg(
    s: SellerState, e: ev.MessageReceived, t: int, p: Sizes
) -> tuple[Kind, Facts]:
    f = _message(s, e.message_id, t, p)
    if f.received_ms is None or (t, e.event_id) > (f.received_ms, f.received_id):
        f.received_id = e.event_id
        f.received_ms = t
        f.needs_reply = e.needs_reply
        f.order_id = e.order_id
        f.marketplace = None if e.marketplace is None else sys.intern(e.marketplace)
        f.channel = e.channel
    return "message", f


def _replied(s: SellerState, e: ev.SellerReplied, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _message(s, e.message_id, t, p)
    f.replied_ms = first(f.replied_ms, t)
    return "message", f


def _requested(s: SellerState, e: ev.ReturnRequested, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _return(s, e, t, p)
    if f.requested_ms is None or (t, e.event_id) > (f.requested_ms, f.requested_id):
        f.requested_id = e.event_id
        f.requested_ms = t
        f.order_id = e.order_id
        f.marketplace = None if e.marketplace is None else sys.intern(e.marketplace)
        f.channel = e.channel
    return "return", f


def _return_step(s: SellerState, e: ev.ReturnEvent, t: int, p: Sizes) -> tuple[Kind, Facts]:
    f = _return(s, e, t, p)
    if isinstance(e, ev.ReturnAuthorised):
        f.authorised_ms = first(f.authorised_ms, t)
    elif isinstance(e, ev.ReturnRejected):
        f.rejected_ms = first(f.rejected_ms, t)
        f.rejected_invalid = f.rejected_invalid or not e.within_policy
    elif isinstance(e, ev.ReturnReceived):
        f.received_ms = first(f.received_ms, t)
    elif isinstance(e, ev.RefundIssued):
        f.refunded_ms = first(f.refunded_ms, t)
    elif isinstance(e, ev.ReturnFeedback):
        stamp = (t, e.event_id)
        if stamp > f.feedback_stamp:
            f.feedback_stamp = stamp
            f.satisfied = e.satisfied
    return "return", f


Fold = Callable[[Any, Any, int, Any], tuple[Kind, Facts]]
_FOLDS: Final[dict[type, Fold]] = {
    ev.OrderPlaced: _placed,
    ev.OrderCancelled: _cancelled,
    ev.FeedbackReceived: _feedback,
    ev.FeedbackRemoved: _feedback,
    ev.ClaimFiled: _claim,
    ev.ClaimDecided: _claim,
    ev.ChargebackFiled: _chargeback,
    ev.ChargebackReversed: _chargeback,
    ev.ShipmentConfirmed: _shipped,
    ev.TrackingValidated: _tracked,
    ev.Delivered: _delivered,
    ev.MessageReceived: _received_msg,
    ev.SellerReplied: _replied,
    ev.ReturnRequested: _requested,
    ev.ReturnAuthorised: _return_step,
    ev.ReturnRejected: _return_step,
    ev.ReturnReceived: _return_step,
    ev.RefundIssued: _return_step,
    ev.ReturnFeedback: _return_step,
}


_ORDER_PLACED: Final = frozenset({"placed_ms", "expected_ship_ms", "promised_ms", "channel",
                                   "marketplace", "units"})
WRITES: Final[dict[type, frozenset[str]]] = {
    ev.OrderPlaced: _ORDER_PLACED,
    ev.OrderCancelled: frozenset({"cancelled_by"}),
    ev.FeedbackReceived: frozenset({"rating"}),
    ev.FeedbackRemoved: frozenset({"rating"}),
    ev.ClaimFiled: frozenset({"claims"}),
    ev.ClaimDecided: frozenset({"claims"}),
    ev.ChargebackFiled: frozenset({"chargebacks"}),
    ev.ChargebackReversed: frozenset({"chargebacks"}),
    ev.ShipmentConfirmed: frozenset({"ship_ms"}),
    ev.TrackingValidated: frozenset({"tracking_ms"}),
    ev.Delivered: frozenset({"delivered_ms"}),
    ev.MessageReceived: frozenset({"received_ms", "needs_reply", "order_id", "marketplace",
                                   "channel"}),
    ev.SellerReplied: frozenset({"replied_ms"}),
    ev.ReturnRequested: frozenset({"requested_ms", "order_id", "marketplace", "channel"}),
    ev.ReturnAuthorised: frozenset({"authorised_ms"}),
    ev.ReturnRejected: frozenset({"rejected_ms", "rejected_invalid"}),
    ev.ReturnReceived: frozenset({"received_ms"}),
    ev.RefundIssued: frozenset({"refunded_ms"}),
    ev.ReturnFeedback: frozenset({"satisfied"}),
}
"""Per event type, the fact fields its fold may write (metrics reading none are skipped)."""


def fold(seller: SellerState, event: ev.AnyEvent, t: int, sizes: Sizes,
         calendars: Calendars | None = None) -> tuple[Kind, Facts]:
    """Fold an event into its object's facts; which kind of object and the facts.

    With `calendars`, a promise at local midnight of the order's marketplace (a date-only
    promise) is kept as the end of that local day (docs/semantics.md, "Metrics")."""
    kind, facts = _FOLDS[type(event)](seller, event, t, sizes)
    if (calendars is not None and type(event) is ev.OrderPlaced
            and facts.placed_id == event.event_id):  # type: ignore[attr-defined]
        order: Any = facts
        order.promised_ms = calendars.of(order.marketplace).promise_end(order.promised_ms)
    return kind, facts


def expiry_ms(kind: Kind, f: Any, hold_ms: int) -> int:
    """After this time no late fact can change the object's contributions: drop it."""
    if kind == "order":
        if f.placed_ms is None:
            return f.last_ms + ORPHAN_HORIZON_MS  # type: ignore[no-any-return]
        latest = max(f.placed_ms, f.expected_ship_ms, f.promised_ms, f.ship_ms or 0)
        expiry: int = latest + max(hold_ms, LATE_FACT_HORIZON_MS)
        if f.ship_ms is None:  # open: it can still ship (cancelled or not: it still counts)
            expiry = max(expiry, f.placed_ms + ORDER_MAX_AGE_MS + MAX_CORRECTION_MS)
        return expiry
    if kind == "message":
        if f.received_ms is None:
            return f.last_ms + ORPHAN_HORIZON_MS  # type: ignore[no-any-return]
        return max(f.received_ms, f.last_ms) + hold_ms + 86_400_000  # type: ignore[no-any-return]
    if f.requested_ms is None and f.received_ms is None:
        return f.last_ms + ORPHAN_HORIZON_MS  # type: ignore[no-any-return]
    expiry = max(f.last_ms, f.requested_ms or 0) + hold_ms + 7 * 86_400_000
    if f.received_ms is None:  # open: it can still be received
        expiry = max(expiry, f.requested_ms + RETURN_MAX_AGE_MS + MAX_CORRECTION_MS)
    return expiry


def is_orphan(kind: Kind, f: Any) -> bool:
    """Whether the object's registering event (order_placed, message_received,
    return_requested or, for a return, its receipt) has not been seen."""
    if kind == "order":
        return f.placed_ms is None
    if kind == "message":
        return f.received_ms is None
    return f.requested_ms is None and f.received_ms is None


def object_of(event: ev.AnyEvent) -> tuple[Kind, str]:
    """The kind and key of the object an event folds into."""
    if isinstance(event, ev.OrderEvent):
        return "order", event.order_id
    if isinstance(event, ev.ReturnEvent):
        return "return", event.return_id
    assert isinstance(event, ev.MessageReceived | ev.SellerReplied)
    return "message", event.message_id


def order_id_of(f: Facts) -> str:
    """The order an object is about, where known, else its own id."""
    if isinstance(f, OrderFacts):
        return f.key
    order_id = f.order_id if isinstance(f, MessageFacts | ReturnFacts) else None
    return order_id or f.key
