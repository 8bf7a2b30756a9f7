"""The seller performance engine: facts in, day buckets and alerts out.

One `Engine` holds the state of one partition: the facts of its sellers'
orders, messages and returns, per seller and metric a ring of day buckets,
per seller and rate the window sums and the status. `apply(event)` folds an
event into its object's facts, recomputes that object's contribution to
each metric and applies the difference to the buckets. The engine's clock
is the event time of the latest event applied: when it passes a deadline
the object is recomputed, when a local day of a rate's calendar begins that
rate's window moves. A rate may be filtered on a marketplace and a channel
(a metric slot per metric and filter). No I/O, no Kafka, no wall clock.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from streams.core import fold as folding
from streams.core.alerts import (
    HEALTH_OF_STATUS,
    INSUFFICIENT,
    STATUS_NAMES,
    Alert,
    Health,
    alert_id,
    judge,
    worth_alerting,
)
from streams.core.calendar import Calendar, Calendars
from streams.core.clock import DAY_MS, iso_day, iso_ms
from streams.core.events import AnyEvent, OrderEvent, ReturnEvent, event_time_ms
from streams.core.facts import Facts
from streams.core.metrics import KINDS, Contribution, Deadlines, Kind, Metric, get_metric
from streams.core.targets import Entry, TargetProfile, TargetVersion
from streams.core.window import (
    NEVER_DAY,
    ONE,
    Days,
    SellerState,
    add_to_day,
    first_day,
    shift_sum,
    window_sum,
)

_NEVER: Final = -(2**62)
RECENT_IDS: Final = 5
_KIND_NO: Final[dict[str, int]] = {k: i for i, k in enumerate(KINDS)}
_expiry_ms: Final = folding.expiry_ms
_SHARED: dict[int, int] = {}
FEEDBACK_HORIZON_MS: Final = 90 * DAY_MS
ORPHAN_HORIZON_MS: Final = 90 * DAY_MS


@dataclass(slots=True)
class EngineStats:
    """Counters of what the engine did."""

    events_total: int = 0
    """Events applied."""
    deadlines_total: int = 0
    """Objects recomputed because the clock passed one of their deadlines."""
    expired_total: int = 0
    """Objects whose facts were dropped by retention."""
    alerts_total: int = 0
    """Alerts emitted."""
    corrections_total: int = 0
    """Late events applied as corrections (`Engine.apply(..., correction=True)`)."""
    orphan_events_total: int = 0
    """Events folded into an object whose registering event (order_placed, message_received,
    return_requested) has not been seen."""
    orphans_expired_total: int = 0
    """Orphan objects dropped by retention without their registering event ever coming."""
    sellers_slid_total: int = 0
    """Sellers whose windows were moved on a new day (only those whose sums change)."""


Compiled = tuple[int, int, Contribution, Calendar, str | None, str | None]
"""(index in `Facts.applied`, slot, contribution, calendar, marketplace, channel): one
metric slot as the hot path reads it; the object counts only when its marketplace and
channel equal the filter's (None: any)."""
Timed = tuple[Deadlines, Calendar, str | None, str | None]
"""(deadlines, calendar, marketplace, channel) of one slot."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The profile compiled into index tables for the hot path."""

    metrics: tuple[Metric, ...]
    """Per bucket slot, its metric (a slot is a metric and a filter)."""
    filters: tuple[tuple[str | None, str | None], ...]
    """Per slot, the (marketplace, channel) it is filtered on (None: any)."""
    by_kind: dict[Kind, tuple[Compiled, ...]]
    """Per kind, every slot of its metrics."""
    by_type: dict[type, tuple[Compiled, ...]]
    """Per event type, the same for the slots whose metric reads a field the event writes."""
    deadlines: dict[Kind, tuple[Timed, ...]]
    """Per kind, the deadline functions of its slots (each distinct one once)."""
    entries_of_slot: tuple[tuple[int, ...], ...]
    """Per slot, the profile entries computed from it."""
    hold_ms: int
    """How long facts must be kept after their last anchor to stay in every window."""

    @staticmethod
    def build(profile: TargetProfile) -> Plan:
        """Compile a target profile."""
        keys = list(dict.fromkeys((e.metric, e.marketplace, e.channel)
                                  for e in profile.entries))
        metrics = tuple(get_metric(name) for name, _, _ in keys)
        filters = tuple((market, channel) for _, market, channel in keys)
        calendars = tuple(next(e.calendar for e in profile.entries
                               if (e.metric, e.marketplace, e.channel) == key) for key in keys)
        by_kind: dict[Kind, tuple[Compiled, ...]] = {}
        deadlines: dict[Kind, tuple[Timed, ...]] = {}
        for k in KINDS:
            slots = [i for i, m in enumerate(metrics) if m.kind == k]
            by_kind[k] = tuple((n, i, metrics[i].contribution, calendars[i], *filters[i])
                               for n, i in enumerate(slots))
            deadlines[k] = tuple(dict.fromkeys(
                (metrics[i].deadlines, calendars[i], *filters[i]) for i in slots))
        kind_of_type = {cls: _kind_of(cls) for cls in folding.WRITES}
        by_type = {
            cls: tuple(
                c for c in by_kind[kind_of_type[cls]]
                if not metrics[c[1]].reads or metrics[c[1]].reads & writes
            )
            for cls, writes in folding.WRITES.items()
        }
        entries_of_slot = tuple(
            tuple(j for j, e in enumerate(profile.entries)
                  if (e.metric, e.marketplace, e.channel) == key) for key in keys
        )
        # One day more than the horizon: a local day and a UTC day (retention) differ by
        # less than a day.
        hold_ms = (profile.horizon_days + 2) * DAY_MS
        return Plan(metrics, filters, by_kind, by_type, deadlines, entries_of_slot, hold_ms)


class Engine:
    """State and logic of one partition; drive it with `apply(event)`."""

    def __init__(self, profile: TargetProfile) -> None:
        self.profile = profile
        self.entries: tuple[Entry, ...] = profile.entries
        self.plan = Plan.build(profile)
        self.sellers: dict[str, SellerState] = {}
        self.calendars = profile.calendars if profile.calendars is not None else Calendars()
        """Every marketplace's calendar (for date-only promises)."""
        self.clock_ms = _NEVER
        """Event time of the latest event applied; deadlines before it have passed."""
        self.day = _NEVER
        """UTC day of the clock when the days were last set (_NEVER: not yet)."""
        self._next_day_ms = _NEVER
        """The first instant at which a local day of some rate's calendar begins."""
        self._zones: tuple[Calendar, ...] = tuple(dict.fromkeys(e.calendar for e in self.entries))
        """The distinct calendars of the rates."""
        self._zone_of = [self._zones.index(e.calendar) for e in self.entries]
        """Per entry, the index of its calendar in `_zones`."""
        self._start_of = [e.calendar.start_ms for e in self.entries]
        """Per entry, the first instant of a local day of its calendar."""
        self.entry_day: list[int] = [_NEVER] * len(self.entries)
        """Per entry, the local day of the clock in its calendar."""
        self.win_hi: list[int] = [_NEVER] * len(self.entries)
        """Per entry, the last day of the window (inclusive)."""
        self.win_lo: list[int] = [_NEVER] * len(self.entries)
        """Per entry, the day before the window's first day (exclusive)."""
        self.floor: list[int] = [_NEVER] * len(self.plan.metrics)
        """Per slot, days at or before this are outside every present and future window."""
        self.versions: list[TargetVersion] = [e.versions[0] for e in self.entries]
        """Per entry, the target version in force on the clock's day."""
        self.changed: set[str] = set()
        """Sellers whose rates or statuses changed since `take_changed()`."""
        self.track_writes = False
        """Whether to record what changed for a durable store (the Kafka worker)."""
        self.dirty_sellers: set[str] = set()
        """Sellers whose buckets, statuses or recent ids changed (when tracking writes)."""
        self.dirty_objects: dict[tuple[str, Kind, str], Facts | None] = {}
        """Objects whose facts changed, None when dropped (when tracking writes)."""
        self.loaded: list[tuple[str, Kind, str]] = []
        """Objects read back from the cold store (when tracking writes): held again, maybe
        unchanged, so the driver can evict them again (with `dirty_objects`)."""
        self.stats = EngineStats()
        self._correcting = False
        self._due: dict[int, set[str]] = {}
        """Instant (a day's start) -> sellers whose window sums change then as the windows
        move (`SellerState.next_ms`; stale entries are skipped)."""
        self._due_days: list[int] = []
        """Heap of the instants in `_due`."""
        self._expiry_days: list[int] = []
        """Heap of the days in `_expiries`."""
        self._version_ms = sorted({e.calendar.start_ms(v.since_day)
                                   for e in self.entries for v in e.versions})
        """Instants at which some rate's target version may change."""
        self._of_market: dict[str, tuple[int, ...]] = {
            m: tuple(j for j, e in enumerate(self.entries) if e.marketplace == m)
            for m in profile.marketplaces}
        """Per marketplace, the rates filtered on it."""
        self._lag = [e.lag_days for e in self.entries]
        self._span = [e.lag_days + e.window_days for e in self.entries]
        self._wakes: list[tuple[int, str, int, str]] = []
        self._pending: set[tuple[str, int]] | None = None
        self._expiries: dict[int, dict[str, bytes]] = {}
        """Day -> seller -> the objects whose facts may be dropped once that day begins,
        packed (`_list_expiry`): most open objects are in the cold store, and this list is
        what memory still holds of them, so a few bytes each rather than a tuple."""
        # The plan's tables, one attribute lookup away on the hot path.
        self._by_kind = self.plan.by_kind
        self._by_type = self.plan.by_type
        self._sizes = {k: len(v) for k, v in self._by_kind.items()}
        """Per kind, how many contributions an object of it holds."""
        self._entries_of_slot = self.plan.entries_of_slot
        self._slot_of = [0] * len(self.entries)
        """Per profile entry, its metric's slot."""
        for slot, entries in enumerate(self._entries_of_slot):
            for j in entries:
                self._slot_of[j] = slot
        self._deadlines = self.plan.deadlines
        self._hold_ms = self.plan.hold_ms
        self._alerts: list[Alert] = []
        self._slots_of_kind = {k: tuple(c[1] for c in v)
                               for k, v in self._by_kind.items()}
        self.evict_waiting = False
        """Whether `restore` also evicts objects waiting for a deadline."""
        self.cold: Callable[[str, Kind, str], Facts | None] | None = None
        """Reads back an object `evict` let go of (None: every object stays held). The
        driver that evicts keeps there the facts of every object as last written (the
        worker: the table; written after each batch, `dirty_objects`)."""

    # -- the hot path --------------------------------------------------------

    def apply(self, event: AnyEvent, t: int | None = None,
              correction: bool = False) -> list[Alert]:
        """Fold one event in (its event time `t` in ms, if known); the alerts it caused.

        An event older than the clock is folded at the clock (facts fold in any order);
        with `correction` (a late event: the driver had released past it) its alerts are
        marked as corrections."""
        alerts = self._alerts = []
        if t is None:
            t = event_time_ms(event)
        if t > self.clock_ms:
            self._advance(t)
        if correction:
            self.stats.corrections_total += 1
            self._correcting = True
            try:
                self._fold(event, t)
            finally:
                self._correcting = False
            return alerts
        self._fold(event, t)
        return alerts

    def _fold(self, event: AnyEvent, t: int) -> None:
        seller = self.sellers.get(event.seller_id)
        if seller is None:
            seller = self.sellers[event.seller_id] = SellerState(
                event.seller_id, len(self.plan.metrics), len(self.entries)
            )
            if self.track_writes:
                # Written even if none of its objects ever counts in a rate (all of another
                # marketplace): its objects are saved, and they are restored into it.
                self.dirty_sellers.add(event.seller_id)
        elif seller.cold:
            kind, key = folding.object_of(event)
            self._thaw(seller, kind, key)
        kind, facts = folding.fold(seller, event, t, self._sizes, self.calendars)
        self.stats.events_total += 1
        if folding.is_orphan(kind, facts):
            self.stats.orphan_events_total += 1
        if self.track_writes:
            self.dirty_objects[(seller.seller_id, kind, facts.key)] = facts
        self._recompute(seller, kind, facts, self._by_type[type(event)])

    def _recompute(
        self,
        seller: SellerState,
        kind: Kind,
        facts: Facts,
        metrics: tuple[Compiled, ...] | None = None,
    ) -> None:
        """Apply the change of one object's contributions, then judge what moved."""
        applied = facts.applied
        clock = self.clock_ms
        f: Any = facts
        for i, slot, contribution, cal, market, channel in (
                self._by_kind[kind] if metrics is None else metrics):
            if (market is None or f.marketplace == market) and (
                    channel is None or f.channel == channel):
                new = contribution(facts, clock, cal)
            else:
                new = 0
            old = applied[i]
            if new != old:
                # Few distinct values (two per day): share one int object among all objects.
                applied[i] = _SHARED.setdefault(new, new)
                self._move(seller, slot, old, new, facts)
                pending = self._pending
                if pending is None:
                    for j in self._entries_of_slot[slot]:
                        self._judge(seller, j)
                else:
                    seller_id = seller.seller_id
                    for j in self._entries_of_slot[slot]:
                        pending.add((seller_id, j))
        self._schedule(seller.seller_id, kind, facts)

    def _move(self, seller: SellerState, slot: int, old: int, new: int, facts: Facts) -> None:
        """Take the old contribution out of the buckets and window sums, put the new one in."""
        all_days = seller.buckets
        sums = seller.sums
        floor = self.floor[slot]
        entries = self.plan.entries_of_slot[slot]
        for packed, sign in ((old, -1), (new, 1)):
            if not packed:
                continue
            day = packed >> 2
            if day <= floor:
                continue  # outside every window, now and later
            delta = sign * (ONE | (packed & 1))
            add_to_day(all_days, slot, day, delta)
            for j in entries:
                if self.win_lo[j] < day <= self.win_hi[j]:
                    sums[j] += delta
                    change = day + self._span[j]  # the day it leaves the window
                elif day > self.win_hi[j]:
                    change = day + self._lag[j]  # the day it enters the window
                else:
                    continue
                if sign > 0 and (change_ms := self._start_of[j](change)) < seller.next_ms:
                    self._due_on(change_ms, seller)
        self.changed.add(seller.seller_id)
        if self.track_writes:
            self.dirty_sellers.add(seller.seller_id)
        bad_is = self.plan.metrics[slot].numerator_is_bad
        was_bad = bool(old) and bool(old & 1) == bad_is
        is_bad = bool(new) and bool(new & 1) == bad_is
        if is_bad and (not was_bad or old >> 2 != new >> 2):
            # Also when a bad object's anchor day moved (a corrected order_placed): it is
            # named by its new day, as a restore would (`_rebuild_buckets`).
            seller.remember(slot, new >> 2, facts.key, folding.order_id_of(facts))
        elif was_bad and not is_bad:
            seller.forget(slot, facts.key)

    def _thaw(self, seller: SellerState, kind: Kind, key: str) -> Facts | None:
        """The object, held again if it was in the cold store; None if there is none."""
        facts = seller.objects(kind).get(key)
        if facts is None and seller.cold:
            facts = self._load(seller, kind, key)
            if facts is not None:
                seller.add(kind, facts)
                if self.track_writes:
                    self.loaded.append((seller.seller_id, kind, key))
        return facts

    def _load(self, seller: SellerState, kind: Kind, key: str) -> Facts | None:
        """An object of the seller from the cold store (no longer counted cold), if there."""
        if self.cold is None:
            raise RuntimeError(f"seller {seller.seller_id!r} has {seller.cold} objects in "
                               "a cold store, and the engine has none to read them from")
        if self.dirty_objects.get((seller.seller_id, kind, key), 0) is None:
            return None  # dropped since the store was last written: not there any more
        facts = self.cold(seller.seller_id, kind, key)
        if facts is not None:
            seller.cold -= 1
        return facts

    def evict(self, objects: Iterable[tuple[str, Kind, str]], waiting: bool = False) -> int:
        """Stop holding these objects (with `waiting`, also those waiting for a deadline,
        which is then read back when it passes); how many were let go.

        The caller has put their facts as they are now where `cold` reads them (the worker:
        in the table, written after each batch). An event for an object, its deadline or its
        retention reads it back; nothing else needs it, so the rates do not change.
        """
        if self.cold is None:
            raise RuntimeError("evict needs a cold store to read objects back from")
        evicted = 0
        sellers = self.sellers
        for seller_id, kind, key in objects:
            seller = sellers.get(seller_id)
            facts = None if seller is None else seller.objects(kind).get(key)
            if facts is None or (facts.wake_ms is not None and not waiting):
                continue
            assert seller is not None
            seller.went_cold(self._slots_of_kind[kind], key, facts.last_ms)
            seller.drop(kind, key)
            seller.cold += 1
            evicted += 1
        return evicted

    def evict_written(self, waiting: bool = False) -> int:
        """`evict` the objects in `dirty_objects` (the caller has just written them) and
        those read back since the last call (unchanged since written); how many."""
        evicted = self.evict(self.dirty_objects, waiting) + self.evict(self.loaded, waiting)
        self.loaded.clear()
        return evicted

    def held(self) -> list[tuple[str, Kind, str]]:
        """Every object held in memory, as (seller id, kind, key)."""
        return [(seller.seller_id, kind, key) for seller in self.sellers.values()
                for kind in KINDS for key in seller.objects(kind)]

    def _judge(self, seller: SellerState, j: int) -> None:
        """Re-judge one rate of one seller; emit an alert on a change worth telling."""
        total = seller.sums[j]
        den = total >> 32
        num = total & 0xFFFFFFFF
        previous = seller.status[j]
        entry = self.entries[j]
        if previous == INSUFFICIENT and den < entry.min_sample:
            return
        status = judge(entry, self.versions[j], num, den, previous)
        if status == previous:
            return
        seller.status[j] = status
        self.changed.add(seller.seller_id)
        if self.track_writes:
            self.dirty_sellers.add(seller.seller_id)
        if worth_alerting(previous, status):
            self._alerts.append(self._alert(seller, j, previous, status, num, den))

    # -- time ----------------------------------------------------------------

    def advance(self, clock_ms: int) -> list[Alert]:
        """Move the clock forward with no event: the alerts that deadlines and days caused."""
        alerts = self._alerts = []
        if clock_ms > self.clock_ms:
            self._advance(clock_ms)
        return alerts

    def _advance(self, clock_ms: int) -> None:
        """Move the clock to `clock_ms`, taking every instant on the way in time order: a
        deadline passes at its time + 1 ms, a local day begins at its first instant. At each
        instant every change due then is made, then what moved is judged (docs/semantics.md,
        "Instants are taken in order"), so how the clock got here changes nothing."""
        if self.day == _NEVER:  # the first event: nothing before it to take
            self.clock_ms = clock_ms
            self._set_days(clock_ms)
            return
        wakes = self._wakes
        while True:
            # The next instant: the next wake, or the start of the next day on which
            # something is due (days on which nothing is due are stepped over at once).
            instant = wakes[0][0] + 1 if wakes else clock_ms + 1
            busy = self._next_busy_ms()
            if busy < instant:
                instant = busy
            if instant > clock_ms:
                break
            if instant < self.clock_ms:  # a wake already due (restored): take it now
                instant = self.clock_ms
            self.clock_ms = instant
            pending = self._pending = set()
            if instant >= busy or instant >= self._next_day_ms:
                self._new_day(instant)
            while wakes and wakes[0][0] < instant:
                due, seller_id, kind_no, key = heapq.heappop(wakes)
                self._wake(due, seller_id, KINDS[kind_no], key)
            self._pending = None
            sellers = self.sellers
            for seller_id, j in sorted(pending):
                seller = sellers.get(seller_id)
                if seller is not None:
                    self._judge(seller, j)
            for seller_id in {seller_id for seller_id, _ in pending}:
                seller = sellers.get(seller_id)
                if seller is not None and seller.is_idle():
                    self._forget(seller_id)
        self.clock_ms = clock_ms
        if clock_ms >= self._next_day_ms:
            # Nothing is due up to the clock (that was taken above): only the windows move.
            self._set_days(clock_ms)

    def _next_busy_ms(self) -> int:
        """The first instant after the clock at which a window sum, a target version or
        retention is due (maybe earlier: stale entries, or due when restored)."""
        at = NEVER_DAY
        if self._due_days:
            at = self._due_days[0]
        if self._expiry_days and self._expiry_days[0] * DAY_MS < at:
            at = self._expiry_days[0] * DAY_MS
        i = bisect.bisect_right(self._version_ms, self.clock_ms)
        if i < len(self._version_ms) and self._version_ms[i] < at:
            at = self._version_ms[i]
        return at

    def _wake(self, due: int, seller_id: str, kind: Kind, key: str) -> None:
        """A deadline of one object has passed."""
        seller = self.sellers.get(seller_id)
        if seller is None:
            return
        facts = self._thaw(seller, kind, key)
        if facts is None or facts.wake_ms != due:
            return  # stale: the object was rescheduled or dropped
        facts.wake_ms = None
        clock = self.clock_ms
        if not any(d < clock for deadlines, cal, _, _ in self._deadlines[kind]
                   for d in deadlines(facts, cal)):
            # No pending deadline has passed (resolved since, shipped, replied ...): the
            # contribution cannot have changed with time.
            self._schedule(seller_id, kind, facts)
        else:
            self.stats.deadlines_total += 1
            self._recompute(seller, kind, facts)
        if self.track_writes:  # its wake changed: what a cold store reads back must too
            self.dirty_objects[(seller_id, kind, key)] = facts

    def _expire(self, day: int) -> None:
        """Retention: drop objects whose expiry passed before this day began; forget a
        seller left with nothing."""
        heap = self._expiry_days
        while heap and heap[0] <= day:
            d = heapq.heappop(heap)
            for seller_id, kind_no, key in _unpack_expiries(self._expiries.pop(d, {})):
                seller = self.sellers.get(seller_id)
                if seller is None:
                    continue
                kind = KINDS[kind_no]
                facts = seller.objects(kind).get(key)
                cold = facts is None and seller.cold > 0
                if cold:
                    facts = self._load(seller, kind, key)
                if facts is None:
                    continue
                expiry_day = _expiry_ms(kind, facts, self._hold_ms) // DAY_MS + 1
                if expiry_day > day:  # late facts moved it on: look again then
                    # (Not saved for a cold object: its saved expiry day is looked at
                    # again on a restore, which lists it then.)
                    facts.expiry_day = expiry_day
                    self._list_expiry(expiry_day, seller_id, kind_no, key)
                    if cold:
                        seller.cold += 1
                    continue
                if not cold:
                    seller.drop(kind, key)
                self.stats.expired_total += 1
                if folding.is_orphan(kind, facts):
                    self.stats.orphans_expired_total += 1
                if self.track_writes:
                    self.dirty_objects[(seller_id, kind, key)] = None
                if seller.is_idle():
                    self._forget(seller_id)

    def _forget(self, seller_id: str) -> None:
        """Nothing held, nothing counted, nothing to tell: let the seller go."""
        del self.sellers[seller_id]
        self.changed.discard(seller_id)
        if self.track_writes:
            self.dirty_sellers.add(seller_id)  # written as gone

    def _schedule(self, seller_id: str, kind: Kind, facts: Facts) -> None:
        """Make sure the object is looked at again at its next deadline, and expires."""
        day = _expiry_ms(kind, facts, self._hold_ms) // DAY_MS + 1
        listed = facts.expiry_day
        if listed is None or day < listed:
            # Expiry moves later as late facts come (`_expire` checks again then), and
            # earlier when an open object closes (an order ships): list it again then.
            facts.expiry_day = day
            self._list_expiry(day, seller_id, _KIND_NO[kind], facts.key)
        clock = self.clock_ms
        wake = facts.wake_ms
        nxt = None
        f: Any = facts
        for deadlines, cal, market, channel in self._deadlines[kind]:
            if (market is not None and f.marketplace != market) or (
                    channel is not None and f.channel != channel):
                continue
            for d in deadlines(facts, cal):
                if clock <= d and (nxt is None or d < nxt):
                    nxt = d
        if nxt is None:
            # Nothing waits on the clock (shipped, replied ...), and nothing will until the
            # facts change: a wake already queued is stale (`_wake` skips it), and the
            # object may go to a cold store.
            facts.wake_ms = None
        elif wake is None or nxt < wake:
            facts.wake_ms = nxt
            heapq.heappush(self._wakes, (nxt, seller_id, _KIND_NO[kind], facts.key))

    def _list_expiry(self, day: int, seller_id: str, kind_no: int, key: str) -> None:
        """Look at an object at the start of `day` (retention)."""
        sellers = self._expiries.get(day)
        if sellers is None:
            sellers = self._expiries[day] = {}
            heapq.heappush(self._expiry_days, day)
        raw = key.encode()
        entry = bytes((kind_no, len(raw) >> 8, len(raw) & 0xFF)) + raw
        packed = sellers.get(seller_id)
        sellers[seller_id] = entry if packed is None else packed + entry

    def _new_day(self, instant: int) -> None:
        """Take the days as they are at `instant`: move the windows of the sellers whose
        sums change by then (`SellerState.next_ms`) and re-judge what changed; a new target
        version re-judges its rate for every seller; retention drops what expired by the
        UTC day. Every other seller's sums stay as they are, so a day costs what changes
        on it, not the sellers held."""
        old_hi = list(self.win_hi)
        old_lo = list(self.win_lo)
        version_changed = self._set_days(instant)
        due: set[str] = set()
        heap = self._due_days
        while heap and heap[0] <= instant:
            due |= self._due.pop(heapq.heappop(heap), set())
        sellers = self.sellers
        for seller_id in sorted(due):
            seller = sellers.get(seller_id)
            if seller is None or seller.next_ms > instant:
                continue  # forgotten, or due later (stale entry)
            self.stats.sellers_slid_total += 1
            self._slide(seller, old_lo, old_hi)
            seller.prune(self.floor)
            if self.track_writes:
                self.dirty_sellers.add(seller_id)
            seller.next_ms = NEVER_DAY
            self._reindex(seller)
            if seller.is_idle():
                self._forget(seller_id)
        if any(version_changed):
            pending = self._pending
            js = [j for j, changed in enumerate(version_changed) if changed]
            for seller in sellers.values():
                for j in js:
                    if pending is None:
                        self._judge(seller, j)
                    else:
                        pending.add((seller.seller_id, j))
        self._expire(instant // DAY_MS)

    def _due_on(self, instant: int, seller: SellerState) -> None:
        """The seller's window sums change at `instant` (earlier than it was due)."""
        seller.next_ms = instant
        sellers = self._due.get(instant)
        if sellers is None:
            sellers = self._due[instant] = set()
            heapq.heappush(self._due_days, instant)
        sellers.add(seller.seller_id)

    def _reindex(self, seller: SellerState) -> None:
        """Find the first instant at which the seller's window sums change as the windows
        move (a non-zero bucket leaves a window or enters one), and list the seller for it."""
        best = NEVER_DAY
        win_lo, win_hi, span, lag = self.win_lo, self.win_hi, self._span, self._lag
        for slot, days in enumerate(seller.buckets):
            if days is None:
                continue
            start_of = self._start_of
            if isinstance(days, dict):
                for j in self._entries_of_slot[slot]:
                    first = first_day(days, win_lo[j], win_hi[j])
                    if first != NEVER_DAY and (at := start_of[j](first + span[j])) < best:
                        best = at
                    later = first_day(days, win_hi[j])
                    if later != NEVER_DAY and (at := start_of[j](later + lag[j])) < best:
                        best = at
                continue
            # A dense run: days[0] is its first day, both ends non-zero (see Days). Days are
            # the entry's calendar's; the instant they begin is what compares across entries.
            base = days[0] - 1
            n = len(days)
            for j in self._entries_of_slot[slot]:
                i = win_lo[j] + 1 - base  # the first day in the window
                if i < 1:
                    i = 1
                stop = win_hi[j] + 1 - base  # the first day after it
                while i < n and not days[i]:
                    i += 1
                if i < n:
                    change = base + i + (span[j] if i < stop else lag[j])
                    if (at := start_of[j](change)) < best:
                        best = at
                    if i < stop and stop < n:  # and the first day to enter the window
                        while stop < n and not days[stop]:
                            stop += 1
                        if stop < n and (at := start_of[j](base + stop + lag[j])) < best:
                            best = at
        if best < seller.next_ms:
            self._due_on(best, seller)

    def _set_days(self, instant: int) -> list[bool]:
        """Take the local days of every calendar at `instant`: every window ends on its
        calendar's day (after its lag), target versions and bucket floors follow; per rate,
        whether its target version changed. Days never go back."""
        self.day = instant // DAY_MS
        zone_days = [cal.day_of(instant) for cal in self._zones]
        self._next_day_ms = min(cal.start_ms(d + 1) for cal, d in zip(self._zones, zone_days,
                                                                         strict=True))
        version_changed = []
        for j, e in enumerate(self.entries):
            day = zone_days[self._zone_of[j]]
            if day < self.entry_day[j]:
                day = self.entry_day[j]
            self.entry_day[j] = day
            self.win_hi[j] = day - e.lag_days
            self.win_lo[j] = day - e.lag_days - e.window_days
            version = e.version_at(day)
            version_changed.append(version is not self.versions[j])
            self.versions[j] = version
        for slot, entries in enumerate(self.plan.entries_of_slot):
            self.floor[slot] = min(self.win_lo[j] for j in entries)
        return version_changed

    def _slide(self, seller: SellerState, old_lo: list[int], old_hi: list[int]) -> None:
        """Move the seller's window sums from the old windows to the engine's."""
        sums = seller.sums
        changed = False
        for slot, entries in enumerate(self.plan.entries_of_slot):
            buckets = seller.buckets[slot]
            for j in entries:
                before = sums[j]
                if buckets is None and not before:
                    continue  # nothing counted here, before or now
                if buckets:
                    if old_hi[j] == _NEVER:
                        sums[j] = window_sum(buckets, self.win_lo[j], self.win_hi[j])
                    else:
                        sums[j] = shift_sum(
                            buckets, before, old_lo[j], old_hi[j], self.win_lo[j], self.win_hi[j]
                        )
                else:
                    sums[j] = 0
                if sums[j] != before:
                    changed = True
                    if self._pending is None:
                        self._judge(seller, j)
                    else:
                        self._pending.add((seller.seller_id, j))
        if changed:
            self.changed.add(seller.seller_id)

    def restore(self, clock_ms: int | None, sellers: Iterable[SellerState]) -> None:
        """Load saved sellers into an empty engine and set its clock (streams.core.checkpoint).

        Window sums and the deadline heap are derived from the sellers, so they are
        rebuilt here; nothing is judged and no alert is raised. Sellers are taken one at a
        time: with a cold store, a seller's objects that wait for no deadline are evicted
        before the next seller is read, so a restore holds no more than the engine did.
        """
        timed = clock_ms is not None and clock_ms != _NEVER
        if timed:
            assert clock_ms is not None
            self.clock_ms = clock_ms
            self._set_days(clock_ms)
        for seller in sellers:
            seller_id = seller.seller_id
            self.sellers[seller_id] = seller
            for kind in KINDS:
                for facts in seller.objects(kind).values():
                    if facts.wake_ms is not None:
                        heapq.heappush(self._wakes, (facts.wake_ms, seller_id,
                                                     _KIND_NO[kind], facts.key))
                    if facts.expiry_day is not None:
                        self._list_expiry(facts.expiry_day, seller_id, _KIND_NO[kind],
                                          facts.key)
            if timed:
                self._rebuild_buckets(seller)
                for slot, entries in enumerate(self.plan.entries_of_slot):
                    buckets = seller.buckets[slot]
                    for j in entries:
                        total = (window_sum(buckets, self.win_lo[j], self.win_hi[j])
                                 if buckets else 0)
                        seller.sums[j] = total
                        # Statuses are saved apart from the objects: bring them in line
                        # with the recounted rates, silently. Whatever the saved objects
                        # record was alerted before they were written (outputs go first).
                        seller.status[j] = judge(self.entries[j], self.versions[j],
                                                 total & 0xFFFFFFFF, total >> 32,
                                                 seller.status[j])
                seller.next_ms = NEVER_DAY
                self._reindex(seller)
            if self.cold is not None:
                self.evict([(seller_id, kind, key) for kind in KINDS
                            for key in seller.objects(kind)], self.evict_waiting)

    def _rebuild_buckets(self, seller: SellerState) -> None:
        """Recount the buckets from the objects' applied contributions.

        Every object still held counts in the buckets through `Facts.applied`, and an
        object is dropped only once its days are outside every window, so the buckets of
        the days that matter are exactly this sum. Rebuilding them makes a restore
        consistent even when a crash saved an object's newer state but not its seller's.
        """
        buckets: list[Days | None] = [None] * len(seller.buckets)
        recent: list[dict[str, tuple[int, str, int]] | None] = [None] * len(seller.buckets)
        metrics = self.plan.metrics
        for kind in KINDS:
            plan = self._by_kind[kind]
            for facts in seller.objects(kind).values():
                applied = facts.applied
                for n, slot, *_ in plan:
                    packed = applied[n]
                    if packed and (packed >> 2) > self.floor[slot]:
                        day = packed >> 2
                        add_to_day(buckets, slot, day, ONE | (packed & 1))
                        if bool(packed & 1) == metrics[slot].numerator_is_bad:
                            ids = recent[slot]
                            if ids is None:
                                ids = recent[slot] = {}
                            ids[facts.key] = (day, folding.order_id_of(facts), 0)
        seller.buckets = buckets
        seller.recent = recent if any(r is not None for r in recent) else None

    # -- reading -------------------------------------------------------------

    def _alert(
        self, seller: SellerState, j: int, previous: int, status: int, num: int, den: int
    ) -> Alert:
        entry = self.entries[j]
        version = self.versions[j]
        as_of = iso_ms(self.clock_ms)
        self.stats.alerts_total += 1
        # The dimensions are in the id when set (the ids of unfiltered rates are as before).
        dims = [d for d in (entry.marketplace, entry.channel) if d is not None]
        return Alert(
            alert_id=alert_id(
                seller.seller_id, entry.name, STATUS_NAMES[previous], STATUS_NAMES[status],
                self.clock_ms, num, den, version.version_id, *dims,
            ),
            seller_id=seller.seller_id,
            metric=entry.name,
            title=entry.title,
            status=STATUS_NAMES[status],
            previous_status=STATUS_NAMES[previous],
            value=num / den if den else None,
            numerator=num,
            denominator=den,
            target=version.target,
            direction=entry.direction,
            warning_margin=version.warning_margin,
            window_days=entry.window_days,
            lag_days=entry.lag_days,
            window_start=iso_day(self.win_lo[j] + 1),
            window_end=iso_day(self.win_hi[j]),
            target_profile=self.profile.name,
            target_version=version.version_id,
            as_of=as_of,
            order_ids=self.order_ids(seller, j, num, den),
            account_health=HEALTH_OF_STATUS[max(seller.status)],
            correction=self._correcting,
            marketplace=entry.marketplace,
            channel=entry.channel,  # type: ignore[arg-type]
            marketplace_health=(None if entry.marketplace is None
                                else self.health(seller, entry.marketplace)),
        )

    def health(self, seller: SellerState, marketplace: str | None = None) -> Health:
        """The seller's account health: the worst status over every rate, or over the rates
        filtered on one marketplace."""
        if marketplace is None:
            return HEALTH_OF_STATUS[max(seller.status, default=0)]
        status = seller.status
        return HEALTH_OF_STATUS[max((status[j] for j in self._of_market.get(marketplace, ())),
                                    default=0)]

    def order_ids(self, seller: SellerState, j: int, num: int, den: int) -> list[str]:
        """The orders rate `j` names (SellerState.recent_ids): none while no object in its
        window counts against the seller, which the window sum tells without a look."""
        slot = self._slot_of[j]
        metric = self.plan.metrics[slot]
        if not (num if metric.numerator_is_bad else den - num):
            return []
        return seller.recent_ids(slot, metric.kind, self.win_lo[j], self.win_hi[j],
                                 RECENT_IDS)

    def rates(self, seller_id: str) -> dict[str, tuple[int, int]]:
        """Per entry name, (numerator, denominator) over its current window."""
        seller = self.sellers.get(seller_id)
        if seller is None:
            return {}
        return {e.name: (s & 0xFFFFFFFF, s >> 32) for e, s in zip(self.entries, seller.sums,
                                                                   strict=True)}

    def take_changed(self) -> set[str]:
        """The sellers changed since the last call (for snapshots), and forget them."""
        changed, self.changed = self.changed, set()
        return changed

    def open_objects(self) -> int:
        """Objects whose facts are held."""
        return sum(s.open_objects() for s in self.sellers.values())


def _unpack_expiries(sellers: dict[str, bytes]) -> Iterator[tuple[str, int, str]]:
    """(seller id, kind number, key) of each object listed by `Engine._list_expiry`."""
    for seller_id, packed in sellers.items():
        at = 0
        while at < len(packed):
            kind_no, hi, lo = packed[at], packed[at + 1], packed[at + 2]
            end = at + 3 + (hi << 8 | lo)
            yield seller_id, kind_no, packed[at + 3:end].decode()
            at = end


def _kind_of(cls: type) -> Kind:
    """The kind of object an event type folds into."""
    if issubclass(cls, OrderEvent):
        return "order"
    return "return" if issubclass(cls, ReturnEvent) else "message"


def apply_all(engine: Engine, events: Iterable[AnyEvent]) -> list[Alert]:
    """Apply events in order; all the alerts."""
    out: list[Alert] = []
    for event in events:
        out.extend(engine.apply(event))
    return out
