"""Tests of the synthetic marketplace generator streams/offline/simulate.py."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.offline.simulate import (
    DAY_MS,
    DEFAULT_START_MS,
    HOUR_MS,
    MODES,
    TOPIC_OF,
    SimulationConfig,
    add_business_days,
    degraded_sellers,
    format_time_ms,
    generate,
    iter_ndjson,
)

Event = dict[str, Any]

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SELLER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
COMMON = {"event_id", "type", "event_time", "seller_id"}


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and len(v) > 0


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_time(v: Any) -> bool:
    return isinstance(v, str) and TIME_RE.match(v) is not None


def _enum(*allowed: str) -> Callable[[Any], bool]:
    return lambda v: v in allowed


def _units(v: Any) -> bool:
    return type(v) is int and v >= 1


def _rating(v: Any) -> bool:
    return type(v) is int and 1 <= v <= 5


def _str_or_null(v: Any) -> bool:
    return v is None or _is_str(v)


# Required type-specific fields and their checks, from docs/semantics.md.
SPEC: dict[str, dict[str, Callable[[Any], bool]]] = {
    "order_placed": {"order_id": _is_str, "marketplace": _is_str,
                     "channel": _enum("seller", "marketplace"), "expected_ship_at": _is_time,
                     "promised_delivery_at": _is_time, "units": _units},
    "order_cancelled": {"order_id": _is_str, "cancelled_by": _enum("seller", "buyer", "system"),
                        "reason": _is_str},
    "feedback_received": {"order_id": _is_str, "rating": _rating},
    "feedback_removed": {"order_id": _is_str},
    "claim_filed": {"order_id": _is_str, "claim_id": _is_str},
    "claim_decided": {"order_id": _is_str, "claim_id": _is_str,
                      "decision": _enum("granted", "denied", "withdrawn"),
                      "seller_at_fault": _is_bool},
    "chargeback_filed": {"order_id": _is_str, "chargeback_id": _is_str},
    "chargeback_reversed": {"order_id": _is_str, "chargeback_id": _is_str},
    "shipment_confirmed": {"order_id": _is_str, "carrier": _is_str,
                           "tracking_number": _str_or_null},
    "tracking_validated": {"order_id": _is_str},
    "delivered": {"order_id": _is_str},
    "message_received": {"message_id": _is_str, "needs_reply": _is_bool},
    "seller_replied": {"message_id": _is_str},
    "return_requested": {"return_id": _is_str, "order_id": _is_str},
    "return_authorised": {"return_id": _is_str},
    "return_rejected": {"return_id": _is_str, "within_policy": _is_bool},
    "return_received": {"return_id": _is_str},
    "refund_issued": {"return_id": _is_str},
    "return_feedback": {"return_id": _is_str, "satisfied": _is_bool},
}
_CHANNEL = ("seller", "marketplace").__contains__
OPTIONAL: dict[str, dict[str, Callable[[Any], bool]]] = {
    "message_received": {"order_id": _str_or_null, "marketplace": _is_str, "channel": _CHANNEL},
    "return_requested": {"marketplace": _is_str, "channel": _CHANNEL},
}

SMALL = SimulationConfig(seed=3, sellers=12, days=20, orders_per_seller_day=6.0)
# Five degrading sellers: one of each mode.
MEDIUM = SimulationConfig(seed=11, sellers=50, days=60, orders_per_seller_day=12.0,
                          degrading_fraction=0.1)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000 + 0.5)


def problems(event: Event) -> list[str]:
    """What is wrong with one event according to docs/semantics.md (empty when valid)."""
    found: list[str] = []
    typ = event.get("type")
    if typ not in SPEC:
        return [f"unknown type {typ!r}"]
    if not (_is_str(event.get("event_id")) and len(event["event_id"]) <= 128):
        found.append("bad event_id")
    if not _is_time(event.get("event_time")):
        found.append("bad event_time")
    if not (isinstance(event.get("seller_id"), str) and SELLER_RE.match(event["seller_id"])):
        found.append("bad seller_id")
    required, optional = SPEC[typ], OPTIONAL.get(typ, {})
    for key, check in {**required, **optional}.items():
        if key in event and not check(event[key]):
            found.append(f"bad {key}={event[key]!r}")
        elif key not in event and key in required:
            found.append(f"missing {key}")
    extra = set(event) - COMMON - set(required) - set(optional)
    if extra:
        found.append(f"unexpected fields {sorted(extra)}")
    return found


@pytest.fixture(scope="module")
def small() -> list[Event]:
    return list(generate(SMALL))


@pytest.fixture(scope="module")
def medium() -> list[Event]:
    return list(generate(MEDIUM))


@pytest.fixture(scope="module")
def folded(medium: list[Event]) -> Folded:
    return Folded(medium)


# ---------------------------------------------------------------- determinism and order

def test_same_seed_is_byte_identical() -> None:
    assert b"".join(iter_ndjson(SMALL)) == b"".join(iter_ndjson(SMALL))


def test_other_seed_differs() -> None:
    other = SimulationConfig(seed=4, sellers=12, days=20, orders_per_seller_day=6.0)
    assert b"".join(iter_ndjson(SMALL)) != b"".join(iter_ndjson(other))


def test_ndjson_lines_round_trip(small: list[Event]) -> None:
    lines = list(iter_ndjson(SMALL))
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert [orjson.loads(line) for line in lines] == small


def test_event_time_non_decreasing(small: list[Event]) -> None:
    times = [ms(e["event_time"]) for e in small]
    assert times == sorted(times)
    end = SMALL.start_ms + SMALL.days * DAY_MS
    assert SMALL.start_ms <= times[0] and times[-1] < end


def test_disorder_is_bounded_and_only_reorders(small: list[Event]) -> None:
    disorder = 2 * HOUR_MS
    config = SimulationConfig(seed=3, sellers=12, days=20, orders_per_seller_day=6.0,
                              disorder_ms=disorder)
    shuffled = list(generate(config))
    latest, inversions = 0, 0
    for event in shuffled:
        t = ms(event["event_time"])
        assert t >= latest - disorder
        inversions += t < latest
        latest = max(latest, t)
    assert inversions > 0
    key = lambda e: e["event_id"]  # noqa: E731
    assert sorted(shuffled, key=key) == sorted(small, key=key)


# ---------------------------------------------------------------- format

def test_every_event_conforms(medium: list[Event]) -> None:
    bad = [(e, p) for e in medium if (p := problems(e))]
    assert not bad[:5]
    assert all(TOPIC_OF[e["type"]] in {"orders", "shipments", "messages", "refunds"}
               for e in medium)


def test_topic_map_matches_spec() -> None:
    assert set(TOPIC_OF) == set(SPEC)
    assert set(TOPIC_OF.values()) == {"orders", "shipments", "messages", "refunds"}


def test_all_types_occur(medium: list[Event]) -> None:
    assert set(Counter(e["type"] for e in medium)) == set(TOPIC_OF)


def test_ids_unique_and_references_resolve(medium: list[Event]) -> None:
    assert len({e["event_id"] for e in medium}) == len(medium)
    orders: set[tuple[str, str]] = set()
    started: dict[str, set[tuple[str, str]]] = defaultdict(set)
    openers = {"order_placed": "order_id", "message_received": "message_id",
               "return_requested": "return_id"}
    for e in medium:
        sid, typ = e["seller_id"], e["type"]
        ref = e.get("order_id")
        if typ == "order_placed":
            assert (sid, ref) not in orders, "order placed twice"
            orders.add((sid, ref))
        elif ref is not None:
            assert (sid, ref) in orders, f"{typ} before its order"
        if typ in openers:
            started[typ].add((sid, e[openers[typ]]))
        elif "message_id" in e:
            assert (sid, e["message_id"]) in started["message_received"]
        elif "return_id" in e:
            assert (sid, e["return_id"]) in started["return_requested"]


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_format_time_ms_matches_datetime(t: int) -> None:
    text = format_time_ms(t)
    assert TIME_RE.match(text)
    expected = datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert text.startswith(expected) and ms(text) == t


def test_add_business_days_skips_weekends() -> None:
    friday_noon = DEFAULT_START_MS + 4 * DAY_MS + 12 * HOUR_MS  # 2026-01-09 is a Friday
    assert add_business_days(friday_noon, 1) == friday_noon + 3 * DAY_MS
    assert add_business_days(friday_noon, 2) == friday_noon + 4 * DAY_MS
    assert add_business_days(DEFAULT_START_MS, 2) == DEFAULT_START_MS + 2 * DAY_MS


# ---------------------------------------------------------------- volume and behaviour

def test_volume_close_to_configured_mean() -> None:
    config = SimulationConfig(seed=5, sellers=40, days=30, orders_per_seller_day=5.0)
    placed = sum(e["type"] == "order_placed" for e in generate(config))
    expected = config.sellers * config.days * config.orders_per_seller_day
    assert 0.85 * expected <= placed <= 1.15 * expected


def test_seller_volume_is_skewed(medium: list[Event]) -> None:
    per_seller = Counter(e["seller_id"] for e in medium if e["type"] == "order_placed")
    counts = sorted(per_seller.values())
    assert counts[-1] > 3 * counts[len(counts) // 2]


def test_degraded_sellers_deterministic_and_sized() -> None:
    chosen = degraded_sellers(MEDIUM)
    assert chosen == degraded_sellers(MEDIUM)
    assert sorted(mode for mode, _ in chosen.values()) == sorted(MODES)
    assert all(MEDIUM.days // 2 <= day < MEDIUM.days for _, day in chosen.values())
    assert len(degraded_sellers(SimulationConfig(sellers=10, degrading_fraction=0.01))) == 1
    assert len(degraded_sellers(SimulationConfig(sellers=200))) == 6
    assert degraded_sellers(SimulationConfig(sellers=5)) == {}


class Folded:
    """Per-object facts of a stream, enough to compute rough metric shares."""

    def __init__(self, events: list[Event]) -> None:
        self.end = MEDIUM.start_ms + MEDIUM.days * DAY_MS
        self.orders: dict[tuple[str, str], dict[str, Any]] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.returns: dict[tuple[str, str], dict[str, Any]] = {}
        for e in events:
            self.fold(e)

    def fold(self, e: Event) -> None:
        sid, typ, t = e["seller_id"], e["type"], ms(e["event_time"])
        if typ == "order_placed":
            self.orders[sid, e["order_id"]] = {
                "placed": t, "expected": ms(e["expected_ship_at"]), "channel": e["channel"]}
        elif typ == "message_received":
            self.messages[sid, e["message_id"]] = {"received": t, "needs": e["needs_reply"]}
        elif typ == "return_requested":
            self.returns[sid, e["return_id"]] = {"requested": t}
        elif "return_id" in e:
            self.returns[sid, e["return_id"]].setdefault(typ, (t, e))
        elif "message_id" in e:
            self.messages[sid, e["message_id"]].setdefault(typ, t)
        else:
            self.orders[sid, e["order_id"]].setdefault(typ, (t, e))

    def share(self, kind: str, sellers: set[str], since: int,
              pred: Callable[[dict[str, Any]], bool | None]) -> tuple[float, int]:
        """Share of objects of the sellers where pred holds, among those anchored from since
        until three days before the end (so that their deadlines have passed)."""
        table = getattr(self, kind)
        first = {"orders": "placed", "messages": "received", "returns": "requested"}[kind]
        until = self.end - 3 * DAY_MS
        hits = [pred(f) for (sid, _), f in table.items()
                if sid in sellers and since <= f[first] < until]
        counted = [h for h in hits if h is not None]
        return (sum(counted) / len(counted) if counted else 0.0), len(counted)


def late_shipment(o: dict[str, Any]) -> bool | None:
    if o["channel"] != "seller" or "order_cancelled" in o:
        return None
    return "shipment_confirmed" not in o or o["shipment_confirmed"][0] > o["expected"]


def seller_cancel(o: dict[str, Any]) -> bool | None:
    if o["channel"] != "seller":
        return None
    return o.get("order_cancelled", (0, {}))[1].get("cancelled_by") in ("seller", "system")


def defect(o: dict[str, Any]) -> bool:
    return o.get("feedback_received", (0, {"rating": 5}))[1]["rating"] <= 2 or "claim_filed" in o


def slow_reply(m: dict[str, Any]) -> bool | None:
    if not m["needs"]:
        return None
    return m.get("seller_replied", 1 << 62) > m["received"] + 24 * HOUR_MS


def bad_return(r: dict[str, Any]) -> bool:
    decided = min([r[k][0] for k in ("return_authorised", "return_rejected") if k in r],
                  default=1 << 62)
    invalid = not r.get("return_rejected", (0, {"within_policy": True}))[1]["within_policy"]
    late_refund = "return_received" in r and r.get("refund_issued", (1 << 62,))[0] > (
        add_business_days(r["return_received"][0], 2))
    return decided > r["requested"] + 48 * HOUR_MS or invalid or late_refund


CHECKS: dict[str, tuple[str, Callable[[dict[str, Any]], bool | None], float]] = {
    # mode: (objects, predicate, minimum ratio degraded / healthy)
    "late_shipments": ("orders", late_shipment, 5.0),
    "cancels": ("orders", seller_cancel, 3.0),
    "defect_spike": ("orders", defect, 3.0),
    "slow_replies": ("messages", slow_reply, 5.0),
    "bad_returns": ("returns", bad_return, 3.0),
}


@pytest.mark.parametrize("mode", MODES)
def test_degraded_behaviour_differs(medium: list[Event], folded: Folded, mode: str) -> None:
    chosen = degraded_sellers(MEDIUM)
    healthy = {e["seller_id"] for e in medium} - set(chosen)
    (sid, day), = [(s, d) for s, (m, d) in chosen.items() if m == mode]
    since = MEDIUM.start_ms + day * DAY_MS
    kind, pred, ratio = CHECKS[mode]
    before, _ = folded.share(kind, {sid}, MEDIUM.start_ms, lambda f: pred(f) if (
        f.get("placed", f.get("received", f.get("requested"))) < since) else None)
    after, n = folded.share(kind, {sid}, since, pred)
    base, _ = folded.share(kind, healthy, since, pred)
    assert n >= 5, f"too few {kind} for {sid}"
    assert after >= ratio * max(base, 0.005), (mode, after, base)
    assert after >= ratio * max(before, 0.005), (mode, after, before)
