"""Facts per order, message and return, folded from events order-independently.

Each field is either a *first time* (the smallest event time seen) or a
*last-writer-wins* register ordered by (event_time_ms, event_id). Both are
commutative and idempotent, so shuffled and duplicated input gives the same
facts (docs/semantics.md, "Facts").
"""

from __future__ import annotations

from typing import Final

Stamp = tuple[int, str]
"""Last-writer-wins order: (event_time_ms, event_id)."""

NO_STAMP: Final[Stamp] = (-(2**62), "")

CLAIM_OPEN: Final = "open"

_DAY_MS: Final = 86_400_000
ORDER_MAX_AGE_MS: Final = 180 * _DAY_MS
"""An order can still ship this long after it was placed; a later ship confirmation does
not count as shipping it (docs/semantics.md, "Retention and orphans")."""
RETURN_MAX_AGE_MS: Final = 180 * _DAY_MS
"""A return not yet received is kept this long after it was requested."""
MAX_CORRECTION_MS: Final = 30 * _DAY_MS
"""A late event older than the clock less this is no longer applied (its objects may be
gone): the correction horizon."""


def first(current: int | None, t: int) -> int:
    """Fold a first-time field."""
    return t if current is None or t < current else current


class Facts:
    """What every object has: its id, engine bookkeeping."""

    __slots__ = ("applied", "expiry_day", "key", "last_ms", "wake_ms")

    def __init__(self, key: str, n_metrics: int) -> None:
        self.key = key
        """Object id within the seller (order, message or return id)."""
        self.applied: list[int] = [0] * n_metrics
        """Per metric of this kind, the contribution last added to the buckets."""
        self.wake_ms: int | None = None
        """The deadline at which the engine will look at this object again."""
        self.expiry_day: int | None = None
        """The day on whose start retention will look at this object (None: not yet listed)."""
        self.last_ms = 0
        """Greatest event time folded in (for the retention of orphans)."""


class OrderFacts(Facts):
    """Facts of one order."""

    __slots__ = (
        "cancel_stamp",
        "cancelled_by",
        "channel",
        "chargebacks",
        "claims",
        "delivered_ms",
        "expected_ship_ms",
        "feedback_stamp",
        "marketplace",
        "placed_id",
        "placed_ms",
        "promised_ms",
        "rating",
        "ship_ms",
        "tracking_ms",
        "units",
    )

    def __init__(self, key: str, n_metrics: int) -> None:
        super().__init__(key, n_metrics)
        self.placed_ms: int | None = None
        self.placed_id = ""
        """Event id of the order_placed that won (with placed_ms, its LWW stamp)."""
        self.expected_ship_ms = 0
        self.promised_ms = 0
        self.channel = ""
        self.marketplace = ""
        self.units = 0
        self.cancel_stamp: Stamp = NO_STAMP
        self.cancelled_by: str | None = None
        self.ship_ms: int | None = None
        self.tracking_ms: int | None = None
        self.delivered_ms: int | None = None
        self.feedback_stamp: Stamp = NO_STAMP
        self.rating: int | None = None
        """Current feedback stars, None when none or removed."""
        self.claims: dict[str, tuple[Stamp, str, bool]] | None = None
        """claim id -> (stamp, state: open/granted/denied/withdrawn, seller at fault)."""
        self.chargebacks: dict[str, tuple[Stamp, bool]] | None = None
        """chargeback id -> (stamp, active)."""

    def set_claim(self, claim_id: str, stamp: Stamp, state: str, at_fault: bool) -> None:
        """Fold a claim register."""
        claims = self.claims
        if claims is None:
            claims = self.claims = {}
        old = claims.get(claim_id)
        if old is None or stamp > old[0]:
            claims[claim_id] = (stamp, state, at_fault)

    def set_chargeback(self, cb_id: str, stamp: Stamp, active: bool) -> None:
        """Fold a chargeback register."""
        cbs = self.chargebacks
        if cbs is None:
            cbs = self.chargebacks = {}
        old = cbs.get(cb_id)
        if old is None or stamp > old[0]:
            cbs[cb_id] = (stamp, active)

    def has_defect_claim_or_chargeback(self) -> bool:
        """Any claim open, or granted with the seller at fault (a claim the marketplace
        funds is no defect), or any chargeback active."""
        if self.claims:
            for _, state, at_fault in self.claims.values():
                if state == CLAIM_OPEN or (state == "granted" and at_fault):
                    return True
        if self.chargebacks:
            for _, active in self.chargebacks.values():
                if active:
                    return True
        return False


class MessageFacts(Facts):
    """Facts of one buyer message."""

    __slots__ = ("channel", "marketplace", "needs_reply", "order_id", "received_id",
                 "received_ms", "replied_ms")

    def __init__(self, key: str, n_metrics: int) -> None:
        super().__init__(key, n_metrics)
        self.received_ms: int | None = None
        self.received_id = ""
        """Event id of the message_received that won (with received_ms, its LWW stamp)."""
        self.needs_reply = False
        self.order_id: str | None = None
        self.replied_ms: int | None = None
        self.marketplace: str | None = None
        """Marketplace of the conversation, when the event gave one."""
        self.channel: str | None = None
        """Channel of the order it is about, when the event gave one."""


class ReturnFacts(Facts):
    """Facts of one return request."""

    __slots__ = (
        "authorised_ms",
        "channel",
        "feedback_stamp",
        "marketplace",
        "order_id",
        "received_ms",
        "refunded_ms",
        "rejected_invalid",
        "rejected_ms",
        "requested_id",
        "requested_ms",
        "satisfied",
    )

    def __init__(self, key: str, n_metrics: int) -> None:
        super().__init__(key, n_metrics)
        self.requested_ms: int | None = None
        self.requested_id = ""
        """Event id of the return_requested that won (with requested_ms, its LWW stamp)."""
        self.order_id: str | None = None
        self.authorised_ms: int | None = None
        self.rejected_ms: int | None = None
        self.rejected_invalid = False
        self.received_ms: int | None = None
        self.refunded_ms: int | None = None
        self.feedback_stamp: Stamp = NO_STAMP
        self.satisfied: bool | None = None
        self.marketplace: str | None = None
        """Marketplace of the return, when the event gave one."""
        self.channel: str | None = None
        """Channel of the returned order, when the event gave one."""
