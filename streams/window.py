"""Per-seller state: day buckets per metric, window sums and statuses per rate.

A bucket holds, for one seller, metric and anchor day, the denominator and
numerator packed into one int (``den << 32 | num``) so that adding a
contribution is a single integer addition. A rate's window sum is packed the
same way and kept up to date incrementally: an event costs O(1) bucket
updates, and a new day costs two bucket reads per rate.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from streams.facts import Facts, MessageFacts, OrderFacts, ReturnFacts

ONE: Final = 1 << 32
"""One object in the denominator, packed."""
NUM_MASK: Final = ONE - 1
_NONE_OPEN: Final[Mapping[str, Facts]] = MappingProxyType({})
"""The (read-only) objects of a kind a seller has none of."""


class SellerState:
    """Everything the engine holds for one seller."""

    __slots__ = ("buckets", "cold", "messages", "orders", "recent", "returns", "seller_id",
                 "status", "sums")

    def __init__(self, seller_id: str, n_slots: int, n_entries: int) -> None:
        self.seller_id = seller_id
        """The seller."""
        self.orders: dict[str, OrderFacts] = {}
        """Open orders by order id."""
        self.messages: dict[str, MessageFacts] | None = None
        """Open buyer messages by message id (None until the first: most sellers have
        none open, and an empty dict costs 64 bytes)."""
        self.returns: dict[str, ReturnFacts] | None = None
        """Open returns by return id (None until the first)."""
        self.cold = 0
        """Open objects not held here but in the engine's cold store (`Engine.evict`), read
        back when an event, a deadline or retention needs them."""
        self.buckets: list[dict[int, int] | None] = [None] * n_slots
        """Per metric slot, anchor day -> packed (den, num); None while there is none (most
        sellers count in a few of the slots: an empty dict costs 64 bytes)."""
        self.sums: list[int] = [0] * n_entries
        """Per rate, packed (den, num) over its current window."""
        self.status = bytearray(n_entries)
        """Per rate, the current status (see streams.alerts)."""
        self.recent: list[dict[str, tuple[int, str, int]] | None] | None = None
        """Per metric slot, the objects counting against the seller: object key -> (anchor
        day, order id, its `last_ms` when it went to the cold store); None while nothing
        counts against the seller (most sellers: the list alone costs 120 bytes). Derived
        from the objects' applied contributions (rebuilt on restore, never saved)."""

    def objects(self, kind: str) -> Mapping[str, Facts]:
        """The open objects of one kind, to read (`add` and `drop` change them)."""
        if kind == "order":
            return self.orders
        found = self.messages if kind == "message" else self.returns
        return _NONE_OPEN if found is None else found

    def held_objects(self) -> int:
        """Orders, messages and returns held here (in memory)."""
        return len(self.orders) + len(self.messages or ()) + len(self.returns or ())

    def open_objects(self) -> int:
        """Orders, messages and returns open, held here or in the cold store."""
        return self.held_objects() + self.cold

    def held_messages(self) -> dict[str, MessageFacts]:
        """The open messages, to change (made on the first)."""
        if self.messages is None:
            self.messages = {}
        return self.messages

    def held_returns(self) -> dict[str, ReturnFacts]:
        """The open returns, to change (made on the first)."""
        if self.returns is None:
            self.returns = {}
        return self.returns

    def add(self, kind: str, facts: Facts) -> None:
        """Hold an object (restoring a seller)."""
        if kind == "order":
            self.orders[facts.key] = facts  # type: ignore[assignment]
        elif kind == "message":
            self.held_messages()[facts.key] = facts  # type: ignore[assignment]
        else:
            self.held_returns()[facts.key] = facts  # type: ignore[assignment]

    def drop(self, kind: str, key: str) -> None:
        """Stop holding an object (retention, or it goes to the cold store)."""
        if kind == "order":
            del self.orders[key]
        elif kind == "message" and self.messages is not None:
            del self.messages[key]
            if not self.messages:
                self.messages = None
        elif kind == "return" and self.returns is not None:
            del self.returns[key]
            if not self.returns:
                self.returns = None

    def went_cold(self, slots: tuple[int, ...], key: str, last_ms: int) -> None:
        """An object of the metric `slots` went to the cold store: keep how to rank it."""
        if self.recent is None:
            return
        for slot in slots:
            recent = self.recent[slot]
            if recent is not None and (found := recent.get(key)) is not None:
                recent[key] = (found[0], found[1], last_ms)

    def remember(self, slot: int, day: int, key: str, order_id: str) -> None:
        """Note an object that newly counts against the seller."""
        slots = self.recent
        if slots is None:
            slots = self.recent = [None] * len(self.buckets)
        recent = slots[slot]
        if recent is None:
            recent = slots[slot] = {}
        recent[key] = (day, order_id, 0)

    def forget(self, slot: int, key: str) -> None:
        """An object no longer counts against the seller: stop naming it."""
        recent = None if self.recent is None else self.recent[slot]
        if recent:
            recent.pop(key, None)

    def recent_ids(self, slot: int, kind: str, lo: int, hi: int, keep: int) -> list[str]:
        """Up to `keep` distinct order ids of the `kind` objects counting against the seller
        with anchor day in (lo, hi]: those whose facts changed last (then by order id),
        newest last. Ranked from the objects alone (an object in the cold store by the
        `last_ms` it went there with: it has not changed since), so a restore ranks alike."""
        recent = None if self.recent is None else self.recent[slot]
        if not recent:
            return []
        objects = self.objects(kind)
        ranked = [(f.last_ms if (f := objects.get(key)) else last, order_id)
                  for key, (day, order_id, last) in recent.items() if lo < day <= hi]
        # The top few are enough unless several objects name the same order.
        top = heapq.nlargest(2 * keep, ranked)
        out = _distinct_orders(top, keep)
        if len(out) < keep and len(top) < len(ranked):
            out = _distinct_orders(sorted(ranked, reverse=True), keep)
        return out[::-1]

    def is_idle(self) -> bool:
        """No open object, no bucket, every rate insufficient_data: nothing left to hold."""
        return not (self.orders or self.messages or self.returns or self.cold
                    or any(self.buckets) or any(self.status))

    def prune(self, floors: list[int]) -> None:
        """Drop buckets of days no window will cover again."""
        for slot, buckets in enumerate(self.buckets):
            floor = floors[slot]
            if buckets is not None:
                old = [d for d in buckets if d <= floor]
                for d in old:
                    del buckets[d]
                if not buckets:
                    self.buckets[slot] = None
            recent = None if self.recent is None else self.recent[slot]
            if recent:
                for key in [k for k, r in recent.items() if r[0] <= floor]:
                    del recent[key]


def window_sum(buckets: dict[int, int], lo: int, hi: int) -> int:
    """Packed sum of the days in (lo, hi]."""
    if hi - lo < len(buckets):
        get = buckets.get
        return sum(get(d, 0) for d in range(lo + 1, hi + 1))
    return sum(v for d, v in buckets.items() if lo < d <= hi)


def shift_sum(
    buckets: dict[int, int], total: int, old_lo: int, old_hi: int, lo: int, hi: int
) -> int:
    """Move a window sum from (old_lo, old_hi] to (lo, hi], both moving forward."""
    if hi - old_hi >= hi - lo or lo < old_lo:
        return window_sum(buckets, lo, hi)
    get = buckets.get
    for d in range(old_hi + 1, hi + 1):
        total += get(d, 0)
    for d in range(old_lo + 1, lo + 1):
        total -= get(d, 0)
    return total


def _distinct_orders(ranked: list[tuple[int, str]], keep: int) -> list[str]:
    """The first `keep` distinct order ids of (rank, order id) pairs, best first."""
    out: list[str] = []
    for _, order_id in ranked:
        if order_id not in out:
            out.append(order_id)
            if len(out) == keep:
                break
    return out
