"""An independent model of statuses and alerts, written from docs/semantics.md and the
status rules documented in streams/core/alerts.py and streams/core/targets.py.

Given an arrival sequence, a lateness and a profile, it replays the replay driver's one
clock (W = greatest event time accepted less the lateness; the clock moves to W after
each event; the flush moves it to the greatest event time) and, at every instant at which
a rate can change (an event folded, a deadline d passing at d + 1, a day k beginning at
k * DAY, a target version taking effect), recomputes the rates from the folded events with
the oracle's metric functions and judges them. Changes at one instant are judged together.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from oracle import (
    DAY,
    HOUR,
    LATE,
    MESSAGE_METRICS,
    ON_TIME,
    ORDER_METRICS,
    RETURN_METRICS,
    Contribution,
    Event,
    MessageFacts,
    OrderFacts,
    ReturnFacts,
    _object_key,
    add_business_days,
    classify,
    day_of,
    fold_message,
    fold_order,
    fold_return,
    parse_ms,
    window_of,
)

from streams.core.targets import Entry, TargetProfile, TargetVersion

INSUFFICIENT, OK, AT_RISK, BREACH = 0, 1, 2, 3
NAMES = ("insufficient_data", "ok", "at_risk", "breach")
_FOREVER = 2**62
Facts = OrderFacts | MessageFacts | ReturnFacts


@dataclass(frozen=True)
class ExpectedAlert:
    """One alert the spec says a seller gets."""

    seller_id: str
    metric: str
    previous_status: str
    status: str
    numerator: int
    denominator: int
    as_of_ms: int
    correction: bool
    window_start: str
    window_end: str


def _frac(x: float) -> Fraction:
    # Targets are exact decimal fractions of the figures as written (targets._bounds).
    return Fraction(str(x))


def _level(entry: Entry, v: TargetVersion, num: int, den: int, relaxed: bool) -> int:
    """OK, AT_RISK or BREACH of a rate; `relaxed` moves both thresholds by the hysteresis."""
    rate = Fraction(num, den)
    h = _frac(entry.hysteresis) if relaxed else Fraction(0)
    target, margin = _frac(v.target), _frac(v.warning_margin)
    if entry.direction in ("below", "at_most"):
        bad = num
        breach_at, risk_at = target - h, target - margin - h
        over = rate >= breach_at if entry.direction == "below" else rate > breach_at
        risky = rate >= risk_at
    else:
        bad = den - num
        breach_at, risk_at = target + h, target + margin + h
        over = rate <= breach_at if entry.direction == "above" else rate < breach_at
        risky = rate <= risk_at
    if bad == 0 or bad < entry.min_numerator:
        return OK
    if over:
        return BREACH
    return AT_RISK if risky else OK


def judge(entry: Entry, v: TargetVersion, num: int, den: int, previous: int) -> int:
    """Worse at once; better only when the relaxed level is better than the previous."""
    if den == 0 or den < entry.min_sample:
        return INSUFFICIENT
    raw = _level(entry, v, num, den, False)
    if previous <= OK or raw >= previous:
        return raw
    relaxed = _level(entry, v, num, den, True)
    return relaxed if relaxed < previous else previous


def worth_alerting(previous: int, status: int) -> bool:
    """A change that involves at_risk or breach."""
    return previous != status and max(previous, status) >= AT_RISK


def _iso_day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _metric_fn(metric: str) -> tuple[str, Any]:
    if metric in ORDER_METRICS:
        return "order", ORDER_METRICS[metric]
    if metric in MESSAGE_METRICS:
        return "message", MESSAGE_METRICS[metric]
    return "return", RETURN_METRICS[metric]


def _deadlines(kind: str, facts: Facts) -> list[int]:
    """Every instant a contribution of the object might read the clock against."""
    out: list[int] = []
    if isinstance(facts, OrderFacts) and facts.placed is not None:
        out += [facts.expected_ship_ms, facts.promised_ms]
        if facts.shipped_ms is not None:
            out.append(facts.shipped_ms + 48 * HOUR)
    elif isinstance(facts, MessageFacts) and facts.received is not None:
        out += [facts.received.ms + 24 * HOUR, facts.received.ms + 48 * HOUR]
    elif isinstance(facts, ReturnFacts):
        if facts.requested is not None:
            out.append(facts.requested.ms + 48 * HOUR)
        if facts.received_ms is not None:
            out.append(add_business_days(facts.received_ms, 2))
    return out


class AlertModel:
    """Runs an arrival sequence through the spec; `alerts` is what every seller gets."""

    def __init__(self, profile: TargetProfile) -> None:
        self.entries = profile.entries
        self.kind_fn = [_metric_fn(e.metric) for e in self.entries]
        self.clock: int | None = None
        self.objects: dict[str, dict[tuple[str, str, str], dict[str, Event]]] = defaultdict(dict)
        self.facts: dict[tuple[str, str, str], Facts] = {}
        self.status: dict[tuple[str, int], int] = defaultdict(int)
        self.alerts: list[ExpectedAlert] = []

    # -- state ---------------------------------------------------------------

    def _fold(self, key: tuple[str, str, str], events: list[Event]) -> Facts:
        kind = key[0]
        if kind == "order":
            return fold_order(events)
        if kind == "message":
            return fold_message(events)
        return fold_return(events)

    def _add(self, raw: dict[str, Any]) -> str:
        """Fold an event into its object; its seller."""
        e = Event(parse_ms(raw["event_time"]), raw["event_id"], raw["type"], raw)
        key = _object_key(e)
        seller = key[1]
        evs = self.objects[seller].setdefault(key, {})
        evs[e.event_id] = e
        self.facts[key] = self._fold(key, list(evs.values()))
        return seller

    def rate(self, seller: str, j: int, clock: int) -> tuple[int, int]:
        """(numerator, denominator) of one rate of one seller at a clock."""
        entry = self.entries[j]
        kind, fn = self.kind_fn[j]
        start, end = window_of(clock, entry.window_days, entry.lag_days)
        num = den = 0
        for key in self.objects[seller]:
            if key[0] != kind:
                continue
            c: Contribution = fn(self.facts[key], clock)
            if c is not None and start <= c[0] <= end:
                den += 1
                num += int(c[1])
        return num, den

    def _judge(self, seller: str, js: list[int], clock: int, correction: bool) -> None:
        for j in sorted(js):
            entry = self.entries[j]
            version = entry.version_at(day_of(clock))
            num, den = self.rate(seller, j, clock)
            previous = self.status[(seller, j)]
            status = judge(entry, version, num, den, previous)
            if status == previous:
                continue
            self.status[(seller, j)] = status
            if worth_alerting(previous, status):
                start, end = window_of(clock, entry.window_days, entry.lag_days)
                self.alerts.append(ExpectedAlert(
                    seller, entry.name, NAMES[previous], NAMES[status], num, den, clock,
                    correction, _iso_day(start), _iso_day(end)))

    # -- time ----------------------------------------------------------------

    def _instants(self, seller: str, lo: int | None, hi: int) -> dict[int, set[int]]:
        """Instants in (lo, hi] at which a rate of the seller may change -> its entries."""
        out: dict[int, set[int]] = defaultdict(set)

        def add(x: int, j: int) -> None:
            if (lo is None or x > lo) and x <= hi:
                out[x].add(j)

        for j, entry in enumerate(self.entries):
            kind, fn = self.kind_fn[j]
            for v in entry.versions:
                add(v.since_day * DAY, j)
            for key in self.objects[seller]:
                if key[0] != kind:
                    continue
                facts = self.facts[key]
                for d in _deadlines(kind, facts):
                    add(d + 1, j)
                ever = fn(facts, _FOREVER)
                if ever is not None:
                    first = ever[0] + entry.lag_days
                    add(first * DAY, j)
                    add((first + entry.window_days) * DAY, j)
        return out

    def advance(self, to: int) -> None:
        """Move the clock to `to`, taking every instant on the way in order."""
        if self.clock is not None and to <= self.clock:
            return
        for seller in sorted(self.objects):
            for x, js in sorted(self._instants(seller, self.clock, to).items()):
                self._judge(seller, list(js), x, False)
        self.clock = to

    def apply(self, raw: dict[str, Any], late: bool) -> None:
        """An event released at its time (moving the clock first), or a late one at C."""
        t = parse_ms(raw["event_time"])
        if not late:
            self.advance(t)
        assert self.clock is not None
        seller = self._add(raw)
        kind = _object_key(Event(t, raw["event_id"], raw["type"], raw))[0]
        js = [j for j in range(len(self.entries)) if self.kind_fn[j][0] == kind]
        self._judge(seller, js, self.clock, late)


def expected_alerts(
    arrivals: list[dict[str, Any]],
    allowed_lateness_ms: int,
    profile: TargetProfile,
    now_ms: int | None = None,
    max_future_skew_ms: int = 300_000,
) -> tuple[list[ExpectedAlert], dict[tuple[str, str], str]]:
    """Every alert of the replay of `arrivals` (flushed at the end), and final statuses."""
    fate = classify(arrivals, allowed_lateness_ms, now_ms, max_future_skew_ms)
    model = AlertModel(profile)
    held: dict[tuple[int, str], dict[str, Any]] = {}
    released: set[str] = set()
    max_seen: int | None = None

    def release(below: int | None) -> None:
        for key in sorted(held):
            if below is not None and key[0] >= below:
                break
            raw = held.pop(key)
            if raw["event_id"] not in released:
                released.add(raw["event_id"])
                model.apply(raw, late=False)

    for raw, f in zip(arrivals, fate.fates, strict=True):
        t = parse_ms(raw["event_time"])
        if f == LATE:
            model.apply(raw, late=True)
            released.add(raw["event_id"])
        elif f == ON_TIME:
            held[(t, raw["event_id"])] = raw
            max_seen = t if max_seen is None else max(max_seen, t)
            w = max_seen - allowed_lateness_ms
            release(w)
            model.advance(w)
    release(None)
    if max_seen is not None:
        model.advance(max_seen)
    statuses = {(s, model.entries[j].name): NAMES[v] for (s, j), v in model.status.items()}
    return model.alerts, statuses
