"""Deterministic synthetic marketplace event stream (orders, shipments, messages, refunds)."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from streams.core.clock import DAY_MS, HOUR_MS, add_business_days, is_business_day

MINUTE_MS = 60_000
DEFAULT_START_MS = 1_767_571_200_000  # 2026-01-05T00:00:00Z, a Monday

MODES: tuple[str, ...] = (
    "late_shipments", "defect_spike", "slow_replies", "bad_returns", "cancels")

TOPIC_OF: dict[str, str] = {
    "order_placed": "orders",
    "order_cancelled": "orders",
    "feedback_received": "orders",
    "feedback_removed": "orders",
    "claim_filed": "orders",
    "claim_decided": "orders",
    "chargeback_filed": "orders",
    "chargeback_reversed": "orders",
    "shipment_confirmed": "shipments",
    "tracking_validated": "shipments",
    "delivered": "shipments",
    "message_received": "messages",
    "seller_replied": "messages",
    "return_requested": "refunds",
    "return_authorised": "refunds",
    "return_rejected": "refunds",
    "return_received": "refunds",
    "refund_issued": "refunds",
    "return_feedback": "refunds",
}

_MARKETS = ("US", "UK", "DE", "CA", "JP")
_CARRIERS = (("UPS", "1Z"), ("USPS", "94"), ("FedEx", "77"), ("DHL", "JD"), ("OnTrac", "C1"))
_BUYER_REASONS = ("buyer_request", "ordered_by_mistake", "found_cheaper")
_SELLER_REASONS = ("out_of_stock", "pricing_error", "unable_to_ship")
_SYSTEM_REASONS = ("payment_failed", "fraud_suspected")


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of one simulated marketplace; all times are UTC milliseconds."""

    seed: int = 7
    sellers: int = 200
    days: int = 90
    orders_per_seller_day: float = 8.0
    start_ms: int = DEFAULT_START_MS
    degrading_fraction: float = 0.03
    disorder_ms: int = 0
    seller_prefix: str = "S"
    """Seller ids are this and a five-digit number (distinct prefixes: distinct sellers)."""

    def __post_init__(self) -> None:
        if self.sellers < 0 or self.days < 0 or self.disorder_ms < 0:
            raise ValueError("sellers, days and disorder_ms must be >= 0")
        if self.orders_per_seller_day < 0:
            raise ValueError("orders_per_seller_day must be >= 0")
        if not 0.0 <= self.degrading_fraction <= 1.0:
            raise ValueError("degrading_fraction must be within [0, 1]")


# ---------------------------------------------------------------- time formatting

class _HourPrefix(dict[int, str]):
    """Hour index since the epoch -> "YYYY-MM-DDTHH:", filled on first use."""

    def __missing__(self, hour: int) -> str:
        text = datetime.fromtimestamp(hour * 3600, tz=UTC).strftime("%Y-%m-%dT%H:")
        self[hour] = text
        return text


_HOUR_PREFIX = _HourPrefix()
_MIN_SEC: list[str] = [f"{s // 60:02d}:{s % 60:02d}" for s in range(3600)]
_MS_SUFFIX: list[str] = [f".{i:03d}Z" for i in range(1000)]


def format_time_ms(ms: int) -> str:
    """RFC 3339 UTC text with milliseconds, e.g. "2026-03-01T12:00:00.123Z"."""
    hour, rest = divmod(ms, HOUR_MS)
    sec, milli = divmod(rest, 1000)
    return _HOUR_PREFIX[hour] + _MIN_SEC[sec] + _MS_SUFFIX[milli]


# ---------------------------------------------------------------- sellers

class _Seller:
    """Static profile and id counters of one seller."""

    __slots__ = ("cancel_p", "counters", "degrade_day", "degrade_ms", "fba", "late_p", "market",
                 "mode", "neg_p", "rate", "severity", "sid", "track_p")

    def __init__(self, index: int, rate: float, rng: random.Random, prefix: str = "S") -> None:
        self.sid = f"{prefix}{index:05d}"
        self.rate = rate
        self.fba = 0.0 if rng.random() < 0.4 else rng.uniform(0.1, 0.9)
        self.market = _MARKETS[0] if rng.random() < 0.7 else rng.choice(_MARKETS[1:])
        self.late_p = rng.uniform(0.005, 0.025)
        self.cancel_p = rng.uniform(0.004, 0.01)
        self.neg_p = rng.uniform(0.03, 0.07)
        self.track_p = rng.uniform(0.97, 0.995)
        self.severity = rng.random()
        self.mode = ""
        self.degrade_day = -1
        self.degrade_ms = 1 << 62
        self.counters = {"O": 0, "M": 0, "R": 0, "C": 0, "CB": 0}

    def next_id(self, kind: str) -> str:
        n = self.counters[kind] + 1
        self.counters[kind] = n
        return f"{kind}-{self.sid}-{n:06d}"


def _degraded_count(config: SimulationConfig) -> int:
    n = round(config.sellers * config.degrading_fraction)
    if config.sellers >= 10 and config.degrading_fraction > 0:
        n = max(n, 1)
    return min(n, config.sellers)


def _make_sellers(config: SimulationConfig) -> list[_Seller]:
    rng = random.Random(f"sellers:{config.seed}")
    weights = [rng.lognormvariate(0.0, 1.0) for _ in range(config.sellers)]
    scale = config.orders_per_seller_day * config.sellers / (sum(weights) or 1.0)
    sellers = [_Seller(i + 1, w * scale, rng, config.seller_prefix)
               for i, w in enumerate(weights)]
    median = sorted(weights)[len(weights) // 2] if weights else 0.0
    big = [s for s, w in zip(sellers, weights, strict=True) if w >= median]
    count = _degraded_count(config)
    chosen = rng.sample(big, count) if count <= len(big) else rng.sample(sellers, count)
    modes = list(MODES)
    rng.shuffle(modes)
    first, last = config.days // 2, max(config.days // 2, (3 * config.days) // 4)
    for i, seller in enumerate(sorted(chosen, key=lambda s: s.sid)):
        seller.mode = modes[i % len(modes)]
        seller.degrade_day = rng.randint(first, last)
        seller.degrade_ms = config.start_ms + seller.degrade_day * DAY_MS
        seller.fba = min(seller.fba, 0.2)
    return sellers


def degraded_sellers(config: SimulationConfig) -> dict[str, tuple[str, int]]:
    """Seller id -> (degradation mode, day index from which it degrades)."""
    return {s.sid: (s.mode, s.degrade_day) for s in _make_sellers(config) if s.mode}


# ---------------------------------------------------------------- simulation

def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _Simulation:
    """Schedules each order's whole life at placement; a heap releases events in time order."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(f"events:{config.seed}")
        self.r = self.rng.random
        self.delay_r = random.Random(f"disorder:{config.seed}").random
        self.end_ms = config.start_ms + config.days * DAY_MS
        self.sellers = _make_sellers(config)
        self.heap: list[tuple[int, int, dict[str, Any]]] = []
        self.seq = 0
        self.day_start = config.start_ms

    def emit(self, t: int, typ: str, sid: str, extra: dict[str, Any]) -> None:
        """Schedule one event; events at or after the end of the period are never emitted."""
        if t >= self.end_ms:
            return
        self.seq += 1
        event = {"event_id": f"E{self.seq:010d}", "type": typ,
                 "event_time": format_time_ms(t), "seller_id": sid}
        event.update(extra)
        disorder = self.config.disorder_ms
        key = t + int(self.delay_r() * (disorder + 1)) if disorder else t
        heapq.heappush(self.heap, (key, self.seq, event))

    def run(self) -> Iterator[dict[str, Any]]:
        for day in range(self.config.days):
            self.day_start = self.config.start_ms + day * DAY_MS
            for t0, seller in self.placements():
                self.order(seller, t0)
            yield from self.drain(self.day_start + DAY_MS)
        yield from self.drain(1 << 62)

    def drain(self, limit: int) -> Iterator[dict[str, Any]]:
        heap, pop = self.heap, heapq.heappop
        while heap and heap[0][0] < limit:
            yield pop(heap)[2]

    def placements(self) -> list[tuple[int, _Seller]]:
        """Order placement times of the current day; also schedules pre-sale questions."""
        rng, r, start = self.rng, self.r, self.day_start
        weekend = not is_business_day(start // DAY_MS)
        factor = 1.15 if weekend else 0.94
        placed: list[tuple[int, _Seller]] = []
        for seller in self.sellers:
            lam = seller.rate * factor
            placed.extend((start + int(r() * DAY_MS), seller) for _ in range(_poisson(rng, lam)))
            for _ in range(_poisson(rng, lam * 0.03)):
                self.message(seller, None, start + int(r() * DAY_MS), seller.market)
        placed.sort(key=lambda p: p[0])
        return placed

    def order(self, seller: _Seller, t0: int) -> None:
        r = self.r
        oid = seller.next_id("O")
        fba = r() < seller.fba
        handling = 1 if fba or r() < 0.6 else 2
        expected = t0 - t0 % DAY_MS + (handling + 1) * DAY_MS - 1
        promised = expected + (2 + int(r() * 4)) * DAY_MS
        x = r()
        market = seller.market if x < 0.9 else _MARKETS[int((x - 0.9) * 50)]
        channel = "marketplace" if fba else "seller"
        x = r()
        units = 1 if x < 0.8 else 2 if x < 0.95 else 3 + int((x - 0.95) * 80)
        self.emit(t0, "order_placed", seller.sid, {
            "order_id": oid, "marketplace": market, "channel": channel,
            "expected_ship_at": format_time_ms(expected),
            "promised_delivery_at": format_time_ms(promised), "units": units})
        mode = seller.mode if t0 >= seller.degrade_ms else ""
        if r() < 0.15:
            self.message(seller, oid, t0 + HOUR_MS + int(r() * 10 * DAY_MS), market, channel)
        if self.cancel(seller, oid, t0, expected, fba, mode):
            return
        delivered = self.ship(seller, oid, t0, expected, promised, fba, mode)
        self.after_sale(seller, oid, t0, delivered or promised, mode)
        if delivered and r() < 0.05:
            self.return_flow(seller, oid, delivered + DAY_MS + int(r() * 25 * DAY_MS), market,
                             channel)

    def cancel(self, seller: _Seller, oid: str, t0: int, expected: int, fba: bool,
               mode: str) -> bool:
        r = self.r
        seller_p = 0.0 if fba else seller.cancel_p
        if mode == "cancels":
            seller_p = 0.05 + 0.05 * seller.severity
        reasons: tuple[str, ...]
        x = r()
        if x < 0.01:
            by, reasons, t = "buyer", _BUYER_REASONS, t0 + MINUTE_MS + int(r() * 12 * HOUR_MS)
        elif x < 0.01 + seller_p:
            by, reasons, t = "seller", _SELLER_REASONS, t0 + HOUR_MS + int(r() * (expected - t0))
        elif x < 0.011 + seller_p:
            by, reasons, t = "system", _SYSTEM_REASONS, t0 + MINUTE_MS + int(r() * 2 * HOUR_MS)
        else:
            return False
        reason = reasons[int(r() * len(reasons))]
        self.emit(t, "order_cancelled", seller.sid,
                  {"order_id": oid, "cancelled_by": by, "reason": reason})
        return True

    def ship(self, seller: _Seller, oid: str, t0: int, expected: int, promised: int,
             fba: bool, mode: str) -> int:
        """Shipment, first scan and delivery; returns the delivery time or 0."""
        r = self.r
        late_p, never_p = (0.002, 0.0) if fba else (seller.late_p, 0.001)
        if mode == "late_shipments":
            late_p, never_p = 0.3 + 0.2 * seller.severity, 0.08
        x = r()
        if x < never_p:
            return 0
        if x < never_p + late_p:
            shipped = expected + HOUR_MS + int(r() * 3 * DAY_MS)
        else:
            shipped = t0 + 30 * MINUTE_MS + int(r() * (expected - t0 - 30 * MINUTE_MS))
        carrier, prefix = _CARRIERS[int(r() * len(_CARRIERS))]
        tracked = fba or r() < 0.99
        number = f"{prefix}{seller.sid[1:]}{seller.counters['O']:010d}" if tracked else None
        self.emit(shipped, "shipment_confirmed", seller.sid,
                  {"order_id": oid, "carrier": carrier, "tracking_number": number})
        if not tracked or r() >= (0.999 if fba else seller.track_p):
            return 0
        scanned = shipped + HOUR_MS + int(r() * 23 * HOUR_MS)
        self.emit(scanned, "tracking_validated", seller.sid, {"order_id": oid})
        return self.deliver(seller, oid, scanned, promised, 0.98 if fba else 0.95)

    def deliver(self, seller: _Seller, oid: str, scanned: int, promised: int,
                on_time_p: float) -> int:
        r = self.r
        x = r()
        if x < 0.003:
            return 0  # lost in transit
        earliest = scanned + 6 * HOUR_MS
        if x < on_time_p and earliest < promised:
            delivered = earliest + int(r() * (promised - earliest))
        else:
            delivered = max(promised, earliest) + HOUR_MS + int(r() * 3 * DAY_MS)
        self.emit(delivered, "delivered", seller.sid, {"order_id": oid})
        return delivered

    def after_sale(self, seller: _Seller, oid: str, t0: int, base: int, mode: str) -> None:
        """Feedback, A-to-z claims and chargebacks of a shipped order."""
        r = self.r
        defect = mode == "defect_spike"
        if r() < (0.18 if defect else 0.10):
            self.feedback(seller, oid, base, 0.35 + 0.2 * seller.severity if defect
                          else seller.neg_p)
        if r() < (0.03 if defect else 0.003):
            self.claim(seller, oid, base + DAY_MS + int(r() * 20 * DAY_MS))
        if r() < (0.006 if defect else 0.001):
            cb = seller.next_id("CB")
            filed = t0 + 10 * DAY_MS + int(r() * 50 * DAY_MS)
            self.emit(filed, "chargeback_filed", seller.sid, {"order_id": oid, "chargeback_id": cb})
            if r() < 0.3:
                self.emit(filed + 10 * DAY_MS + int(r() * 30 * DAY_MS), "chargeback_reversed",
                          seller.sid, {"order_id": oid, "chargeback_id": cb})

    def feedback(self, seller: _Seller, oid: str, base: int, neg_p: float) -> None:
        r = self.r
        x = r()
        if x < 0.6:
            t = base + HOUR_MS + int(r() * 14 * DAY_MS)
        elif x < 0.9:
            t = base + 14 * DAY_MS + int(r() * 16 * DAY_MS)
        else:
            t = base + 30 * DAY_MS + int(r() * 50 * DAY_MS)
        x = r()
        if x < neg_p:
            rating = 1 if r() < 0.6 else 2
        else:
            x = r()
            rating = 5 if x < 0.65 else 4 if x < 0.9 else 3
        self.emit(t, "feedback_received", seller.sid, {"order_id": oid, "rating": rating})
        if r() < (0.12 if rating <= 2 else 0.002):
            self.emit(t + DAY_MS + int(r() * 20 * DAY_MS), "feedback_removed", seller.sid,
                      {"order_id": oid})

    def claim(self, seller: _Seller, oid: str, filed: int) -> None:
        r = self.r
        cid = seller.next_id("C")
        self.emit(filed, "claim_filed", seller.sid, {"order_id": oid, "claim_id": cid})
        x = r()
        if x < 0.1:
            return  # stays open
        decision = "granted" if x < 0.55 else "denied" if x < 0.8 else "withdrawn"
        at_fault = decision == "granted" and r() < 0.8
        self.emit(filed + 2 * DAY_MS + int(r() * 12 * DAY_MS), "claim_decided", seller.sid,
                  {"order_id": oid, "claim_id": cid, "decision": decision,
                   "seller_at_fault": at_fault})

    def message(self, seller: _Seller, oid: str | None, t: int, market: str,
                channel: str | None = None) -> None:
        r = self.r
        mid = seller.next_id("M")
        needs = r() < 0.8
        extra: dict[str, Any] = {"message_id": mid, "order_id": oid, "needs_reply": needs}
        if oid is None and r() < 0.5:
            del extra["order_id"]  # the field is optional
        extra["marketplace"] = market  # optional: a pre-sale question has no channel
        if channel is not None:
            extra["channel"] = channel
        self.emit(t, "message_received", seller.sid, extra)
        x = r()
        if not needs:
            delay = 10 * MINUTE_MS + int(r() * 2 * DAY_MS) if x < 0.1 else -1
        elif seller.mode == "slow_replies" and t >= seller.degrade_ms:
            delay = (-1 if x < 0.2 else 24 * HOUR_MS + int(r() * 3 * DAY_MS) if x < 0.7
                     else 2 * HOUR_MS + int(r() * 20 * HOUR_MS))
        elif x < 0.01:
            delay = -1
        elif x < 0.03:
            delay = 24 * HOUR_MS + int(r() * 2 * DAY_MS)
        else:
            delay = 5 * MINUTE_MS + int(r() ** 3 * 22 * HOUR_MS)
        if delay >= 0:
            self.emit(t + delay, "seller_replied", seller.sid, {"message_id": mid})

    def return_flow(self, seller: _Seller, oid: str, requested: int, market: str,
                    channel: str) -> None:
        r = self.r
        rid = seller.next_id("R")
        sid = seller.sid
        self.emit(requested, "return_requested", sid, {"return_id": rid, "order_id": oid,
                                                        "marketplace": market,
                                                        "channel": channel})
        bad = seller.mode == "bad_returns" and requested >= seller.degrade_ms
        x = r()
        if bad and x < 0.2:
            if r() < 0.5:  # never decided; the buyer complains
                self.emit(requested + 3 * DAY_MS + int(r() * 5 * DAY_MS), "return_feedback", sid,
                          {"return_id": rid, "satisfied": False})
            return
        if (bad and x < 0.6) or (not bad and x > 0.99):
            decided = requested + 49 * HOUR_MS + int(r() * 4 * DAY_MS)
        else:
            decided = requested + HOUR_MS + int(r() * 23 * HOUR_MS)
        if r() < (0.15 if bad else 0.02):
            within = r() < (0.2 if bad else 0.95)
            self.emit(decided, "return_rejected", sid, {"return_id": rid, "within_policy": within})
            if r() < 0.4:
                self.emit(decided + DAY_MS + int(r() * 5 * DAY_MS), "return_feedback", sid,
                          {"return_id": rid, "satisfied": False})
            return
        self.emit(decided, "return_authorised", sid, {"return_id": rid})
        if r() < 0.88:
            self.refund(seller, rid, decided + 2 * DAY_MS + int(r() * 8 * DAY_MS), bad)

    def refund(self, seller: _Seller, rid: str, received: int, bad: bool) -> None:
        r = self.r
        sid = seller.sid
        self.emit(received, "return_received", sid, {"return_id": rid})
        deadline = add_business_days(received, 2)
        late = r() < (0.5 if bad else 0.03)
        if late:
            refunded = deadline + 2 * HOUR_MS + int(r() * 4 * DAY_MS)
        else:
            refunded = received + HOUR_MS + int(r() * (deadline - received - HOUR_MS))
        self.emit(refunded, "refund_issued", sid, {"return_id": rid})
        if r() < 0.2:
            satisfied = r() < (0.4 if late else 0.9)
            self.emit(refunded + HOUR_MS + int(r() * 7 * DAY_MS), "return_feedback", sid,
                      {"return_id": rid, "satisfied": satisfied})


def generate(config: SimulationConfig | None = None) -> Iterator[dict[str, Any]]:
    """Yield events ordered by event time (plus a random delay of 0..disorder_ms if set).

    Each order's life is scheduled when it is placed; only pending future events are
    held in memory. Events falling after start_ms + days are not emitted.
    """
    yield from _Simulation(config or SimulationConfig()).run()


def iter_ndjson(config: SimulationConfig | None = None) -> Iterator[bytes]:
    """Each generated event as one JSON line ending with a newline."""
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    for event in generate(config):
        yield dumps(event, option=option)


def write_ndjson(config: SimulationConfig, path: Path) -> None:
    """Write the simulated log to `path` (via a temporary file, so a half-written log is
    never taken for a whole one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for line in iter_ndjson(config):
            out.write(line)
    tmp.rename(path)
