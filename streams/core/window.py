"""Per-seller state: day buckets per metric, window sums and statuses per rate.

A bucket holds, for one seller, metric and anchor day, the denominator and
numerator packed into one int (``den << 32 | num``) so that adding a
contribution is a single integer addition. A rate's window sum is packed the
same way and kept up to date incrementally: an event costs O(1) bucket
updates, and a new day costs two bucket reads per rate.

A seller's buckets of one metric are one dense run of days, `array('q')`:
``[first day, bucket of that day, of the next, ...]`` with a non-zero bucket at
both ends (8 bytes a day; a dict of day -> int costs about 100). Days spread
wider than `DENSE_SPAN` (an anchor far in the future: a bad promised date) are
kept in a dict of day -> bucket instead, so one bad date cannot make a run of
millions of days.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, TypeAlias

from streams.core.facts import Facts, MessageFacts, OrderFacts, ReturnFacts

ONE: Final = 1 << 32
"""One object in the denominator, packed."""
NUM_MASK: Final = ONE - 1
_NONE_OPEN: Final[Mapping[str, Facts]] = MappingProxyType({})
"""The (read-only) objects of a kind a seller has none of."""
DENSE_SPAN: Final = 400
"""Most days one dense run of a metric's buckets covers (windows are at most 90 days,
anchors a few weeks ahead); wider, the days go to a dict."""
NEVER_DAY: Final = 2**62
"""A day (or instant) that never comes."""
Days: TypeAlias = "array[int] | dict[int, int]"
"""A seller's buckets of one metric: a dense run of days or, spread wide, a dict."""


class SellerState:
    """Everything the engine holds for one seller."""

    __slots__ = ("buckets", "cold", "messages", "next_ms", "orders", "recent", "returns",
                 "seller_id", "status", "sums")

    def __init__(self, seller_id: str, n_slots: int, n_entries: int) -> None:
        self.seller_id = seller_id
        """The seller."""
        self.orders: dict[str, OrderFacts] | None = None
        """Open orders held here by order id (None while there is none: with the objects
        in the cold store, most sellers hold none, and an empty dict costs 64 bytes)."""
        self.messages: dict[str, MessageFacts] | None = None
        """Open buyer messages by message id (None until the first: most sellers have
        none open, and an empty dict costs 64 bytes)."""
        self.returns: dict[str, ReturnFacts] | None = None
        """Open returns by return id (None until the first)."""
        self.cold = 0
        """Open objects not held here but in the engine's cold store (`Engine.evict`), read
        back when an event, a deadline or retention needs them."""
        self.buckets: list[Days | None] = [None] * n_slots
        """Per metric slot, the packed (den, num) of each anchor day (see `Days`); None while
        there is none (most sellers count in a few of the slots)."""
        self.sums = array("q", bytes(8 * n_entries))
        """Per rate, packed (den, num) over its current window (no int object per sum)."""
        self.status = bytearray(n_entries)
        """Per rate, the current status (see streams.core.alerts)."""
        self.next_ms = NEVER_DAY
        """The first instant (a local day's start) at which a window sum of this seller
        changes by the windows moving alone (a bucket leaves or enters a window); derived,
        never saved. The engine moves a seller's windows then only (`Engine._new_day`)."""
        self.recent: list[dict[str, tuple[int, str, int]] | None] | None = None
        """Per metric slot, the objects counting against the seller: object key -> (anchor
        day, order id, its `last_ms` when it went to the cold store); None while nothing
        counts against the seller (most sellers: the list alone costs 120 bytes). Derived
        from the objects' applied contributions (rebuilt on restore, never saved)."""

    def objects(self, kind: str) -> Mapping[str, Facts]:
        """The open objects of one kind, to read (`add` and `drop` change them)."""
        found = (self.orders if kind == "order" else
                 self.messages if kind == "message" else self.returns)
        return _NONE_OPEN if found is None else found

    def held_objects(self) -> int:
        """Orders, messages and returns held here (in memory)."""
        return len(self.orders or ()) + len(self.messages or ()) + len(self.returns or ())

    def open_objects(self) -> int:
        """Orders, messages and returns open, held here or in the cold store."""
        return self.held_objects() + self.cold

    def held_orders(self) -> dict[str, OrderFacts]:
        """The open orders, to change (made on the first)."""
        if self.orders is None:
            self.orders = {}
        return self.orders

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
            self.held_orders()[facts.key] = facts  # type: ignore[assignment]
        elif kind == "message":
            self.held_messages()[facts.key] = facts  # type: ignore[assignment]
        else:
            self.held_returns()[facts.key] = facts  # type: ignore[assignment]

    def drop(self, kind: str, key: str) -> None:
        """Stop holding an object (retention, or it goes to the cold store)."""
        if kind == "order" and self.orders is not None:
            del self.orders[key]
            if not self.orders:
                self.orders = None
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
        all_days = self.buckets
        for slot, days in enumerate(all_days):
            floor = floors[slot]
            if days is None:
                pass
            elif isinstance(days, dict):
                for d in [d for d in days if d <= floor]:
                    del days[d]
                if not days:
                    all_days[slot] = None
            elif (gone := floor - days[0] + 1) > 0:  # days[0] .. floor
                if gone >= len(days) - 1:
                    all_days[slot] = None
                else:
                    del days[1:1 + gone]
                    days[0] = floor + 1
                    _trim(all_days, slot, days)
            recent = None if self.recent is None else self.recent[slot]
            if recent:
                for key in [k for k, r in recent.items() if r[0] <= floor]:
                    del recent[key]


def add_to_day(all_days: list[Days | None], slot: int, day: int, delta: int) -> None:
    """Add a packed (den, num) delta to the bucket of one day of a slot; a bucket that
    comes to zero is dropped, and so is a slot with none left."""
    days = all_days[slot]
    if days is None:
        all_days[slot] = array("q", (day, delta))
        return
    if isinstance(days, dict):
        count = days.get(day, 0) + delta
        if count:
            days[day] = count
        else:
            del days[day]
            if not days:
                all_days[slot] = None
        return
    i = day - days[0] + 1
    n = len(days)
    if i < 1 or i >= n:
        span = n - i if i < 1 else i  # days the run would cover
        if span > DENSE_SPAN:
            all_days[slot] = bucket_days(days)
            add_to_day(all_days, slot, day, delta)  # now the dict's case
            return
        if i < 1:
            days[1:1] = array("q", bytes(8 * (1 - i)))
            days[0] = day
            i = 1
        else:
            days.frombytes(bytes(8 * (i - n + 1)))
    count = days[i] + delta
    days[i] = count
    if not count and (i == 1 or i == len(days) - 1):
        _trim(all_days, slot, days)


def _trim(all_days: list[Days | None], slot: int, days: array[int]) -> None:
    """Drop the zero buckets at both ends of a dense run (the slot, if nothing is left)."""
    n = len(days)
    lo = 1
    while lo < n and not days[lo]:
        lo += 1
    if lo == n:
        all_days[slot] = None
        return
    hi = n - 1
    while not days[hi]:
        hi -= 1
    if hi < n - 1:
        del days[hi + 1:]
    if lo > 1:
        del days[1:lo]
        days[0] += lo - 1


def bucket_days(days: Days) -> dict[int, int]:
    """The non-zero buckets of a slot by day."""
    if isinstance(days, dict):
        return dict(days)
    first = days[0] - 1
    return {first + i: v for i, v in enumerate(days) if i and v}


def first_day(days: Days, lo: int, hi: int = NEVER_DAY) -> int:
    """The first day in (lo, hi] with a non-zero bucket; NEVER_DAY if none."""
    if isinstance(days, dict):
        return min((d for d, v in days.items() if lo < d <= hi and v), default=NEVER_DAY)
    base = days[0] - 1
    start = max(1, lo + 1 - base)
    stop = min(len(days), hi + 1 - base) if hi < NEVER_DAY else len(days)
    for i in range(start, stop):
        if days[i]:
            return base + i
    return NEVER_DAY


def window_sum(days: Days, lo: int, hi: int) -> int:
    """Packed sum of the days in (lo, hi]."""
    if not isinstance(days, dict):
        start = lo + 2 - days[0]  # the index of day lo + 1
        stop = hi + 2 - days[0]
        if start < 1:
            start = 1
        return sum(days[start:stop]) if stop > start else 0
    if hi - lo < len(days):
        get = days.get
        return sum(get(d, 0) for d in range(lo + 1, hi + 1))
    return sum(v for d, v in days.items() if lo < d <= hi)


def shift_sum(days: Days, total: int, old_lo: int, old_hi: int, lo: int, hi: int) -> int:
    """Move a window sum from (old_lo, old_hi] to (lo, hi], both moving forward."""
    if hi - old_hi >= hi - lo or lo < old_lo:
        return window_sum(days, lo, hi)
    if not isinstance(days, dict):
        if hi == old_hi + 1 and lo == old_lo + 1:  # one day on: one bucket in, one out
            base = days[0] - 1
            n = len(days)
            i = hi - base
            if 0 < i < n:
                total += days[i]
            i = lo - base
            if 0 < i < n:
                total -= days[i]
            return total
        return total + window_sum(days, old_hi, hi) - window_sum(days, old_lo, lo)
    get = days.get
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
