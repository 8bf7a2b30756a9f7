"""One clock, corrections, the future guard and the correction horizon, against the oracle
and the independent alert model, through the replay driver with one or several partitions.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from datetime import date
from typing import Any

import orjson
from alert_model import ExpectedAlert, expected_alerts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import FUTURE, LATE, ON_TIME, TOO_LATE, Arrivals, classify, parse_ms, rates_at
from strategies import (
    FUTURE_MS,
    SPANS,
    allowed_lateness,
    arrivals,
    delivered,
    event_logs,
    event_ms,
)

from streams.core.alerts import Alert
from streams.core.partitioner import partition_for
from streams.core.targets import TargetProfile, parse_profile
from streams.offline.replay import Replayer, ReplayResult

Event = dict[str, Any]
SKEW_MS = 300_000
V2 = date(2026, 1, 26)  # a second target version inside the dense span

# (name, metric, window, lag, direction, target, margin, min_sample, min_numerator, hyst.)
SPEC: list[tuple[str, str, int, int, str, float, float, int, int, float]] = [
    ("odr_60", "order_defect", 60, 0, "below", 0.5, 0.2, 1, 0, 0.0),
    ("odr_7_lag3", "order_defect", 7, 3, "at_most", 0.25, 0.1, 2, 0, 0.1),
    ("cancel_7", "seller_cancel", 7, 0, "below", 0.3, 0.1, 1, 1, 0.0),
    ("lsr_10", "late_shipment", 10, 0, "below", 0.5, 0.25, 1, 0, 0.1),
    ("lsr_1", "late_shipment", 1, 0, "below", 0.5, 0.0, 1, 0, 0.0),
    ("vtr_30", "valid_tracking", 30, 0, "above", 0.5, 0.2, 1, 0, 0.0),
    ("otd_14", "on_time_delivery", 14, 0, "at_least", 0.5, 0.25, 1, 0, 0.1),
    ("otd_3_lag1", "on_time_delivery", 3, 1, "above", 0.9, 0.0, 1, 0, 0.0),
    ("crt_7", "contact_response", 7, 0, "above", 0.5, 0.3, 1, 0, 0.0),
    ("crt48_30", "contact_response_48h", 30, 0, "at_least", 0.75, 0.1, 1, 0, 0.05),
    ("rdr_30", "return_dissatisfaction", 30, 0, "below", 0.5, 0.2, 1, 0, 0.0),
    ("rdr_2", "return_dissatisfaction", 2, 0, "at_most", 0.5, 0.0, 1, 0, 0.0),
    ("refund_30", "refund_timeliness", 30, 0, "below", 0.5, 0.25, 1, 0, 0.0),
    ("nfb_60", "negative_feedback", 60, 0, "below", 0.34, 0.1, 1, 0, 0.0),
    ("tdr_90", "transaction_defect", 90, 0, "below", 0.5, 0.2, 3, 0, 0.0),
]
ENTRIES = [(name, metric, window, lag) for name, metric, window, lag, *_ in SPEC]


def _profile() -> TargetProfile:
    entries = {}
    for name, metric, window, lag, direction, target, margin, sample, floor, hyst in SPEC:
        versions: list[dict[str, Any]] = [
            {"since": date(2020, 1, 1), "target": target, "warning_margin": margin}]
        if name in ("odr_60", "lsr_10", "crt_7"):  # a new target mid-span, taken at k * DAY
            versions.append({"since": V2, "target": target / 2, "warning_margin": margin / 2})
        entries[name] = {"metric": metric, "window_days": window, "lag_days": lag,
                         "direction": direction, "min_sample": sample,
                         "min_numerator": floor, "hysteresis": hyst, "versions": versions}
    return parse_profile({"name": "time", "entries": entries})


PROFILE = _profile()
GUARD = "max_event_ms" in inspect.signature(Replayer).parameters
"""Whether the replay driver takes the future guard's bound (`max_event_ms`); without
it, the logs below carry no event from the future and `test_the_replay_has_a_future_guard`
fails alone."""


# ---------------------------------------------------------------- the driver under test


def replayer(lateness_ms: int, partitions: int, now_ms: int | None) -> Replayer:
    """The replay driver, with the future guard measured against `now_ms` when given."""
    if now_ms is None:
        return Replayer(PROFILE, lateness_ms, partitions)
    return Replayer(PROFILE, lateness_ms, partitions, max_event_ms=now_ms + SKEW_MS)


def engine_rates(result: ReplayResult) -> dict[tuple[str, str], tuple[int, int]]:
    """(numerator, denominator) per (seller, entry), every partition."""
    return {(seller, name): value for part in result.partitions
            for seller in part.engine.sellers
            for name, value in part.engine.rates(seller).items()}


def same_rates(got: dict[tuple[str, str], tuple[int, int]],
               want: dict[tuple[str, str], tuple[int, int]]) -> dict[Any, Any]:
    """The differences; a seller the engine forgot must have nothing counted."""
    keys = set(got) | set(want)
    return {k: (got.get(k, (0, 0)), want.get(k, (0, 0))) for k in sorted(keys)
            if got.get(k, (0, 0)) != want.get(k, (0, 0))}


def by_rate(alerts: list[Alert] | list[ExpectedAlert]) -> dict[tuple[str, str], list[Any]]:
    """Per (seller, rate), the sequence of its alerts, as comparable tuples."""
    out: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for a in alerts:
        as_of = a.as_of_ms if isinstance(a, ExpectedAlert) else parse_ms(a.as_of)
        correction = getattr(a, "correction", "missing")
        out[(a.seller_id, a.metric)].append(
            (as_of, a.previous_status, a.status, a.numerator, a.denominator, correction,
             a.window_start, a.window_end))
    return dict(out)


def now_for(log: list[Event]) -> int | None:
    """The wall clock of a replay: after every real event, long before the year 2999."""
    return max(t for t in map(event_ms, log) if t < FUTURE_MS) + SKEW_MS if GUARD else None


def run(stream: list[Event], lateness_ms: int, partitions: int, now_ms: int | None,
        fate: Arrivals | None = None) -> ReplayResult:
    """Replay the stream line by line; with `fate`, after every line check the clock of the
    partition that took it (the one clock W) and, in every partition, every rate against
    the oracle over what it has applied, at its clock."""
    rep = replayer(lateness_ms, partitions, now_ms)
    parts = rep.result.partitions
    routed: list[list[Event]] = [[] for _ in parts]
    for i, event in enumerate(stream):
        rep.feed(orjson.dumps(event), i + 1)
        if fate is None:
            continue
        p = partition_for(event["seller_id"], partitions) if partitions > 1 else 0
        if fate.fates[i] in (ON_TIME, LATE):
            routed[p].append(event)
        clock = fate.clocks[i + 1] if i + 1 < len(stream) else _after_last(fate, lateness_ms)
        if clock is None:
            continue
        if fate.fates[i] in (ON_TIME, LATE):
            assert parts[p].engine.clock_ms == clock, (i + 1, parts[p].engine.clock_ms, clock)
        for q, part in enumerate(parts):
            c = part.engine.clock_ms
            applied = [e for e in routed[q] if event_ms(e) < part.sequencer.released_ms]
            if not applied:
                continue
            got = {k: v for k, v in engine_rates(rep.result).items()
                   if (partition_for(k[0], partitions) if partitions > 1 else 0) == q}
            assert same_rates(got, rates_at(applied, ENTRIES, c)) == {}, (
                f"after line {i + 1} ({fate.fates[i]}), partition {q} at clock {c}")
    result = rep.finish()
    if fate is not None and fate.final_clock_ms is not None:
        for part in result.partitions:
            assert part.engine.clock_ms == fate.final_clock_ms
    return result


def _after_last(fate: Arrivals, lateness_ms: int) -> int | None:
    return None if fate.final_clock_ms is None else fate.final_clock_ms - lateness_ms


def dead_letters(result: ReplayResult) -> list[tuple[int | None, str]]:
    """(line, reason) of every line refused for its time."""
    return [(d.offset, d.reason) for d in result.dead_letters
            if d.reason in (FUTURE, TOO_LATE)]


def expected_dead_letters(fate: Arrivals) -> list[tuple[int | None, str]]:
    return [(i + 1, f) for i, f in enumerate(fate.fates) if f in (FUTURE, TOO_LATE)]


# ---------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rates_equal_the_oracle_after_every_line_for_any_arrival_and_lateness(
    data: st.DataObject,
) -> None:
    log = data.draw(event_logs(spans=SPANS, future=GUARD))
    now_ms = now_for(log)
    lateness_ms = data.draw(allowed_lateness([e for e in log if event_ms(e) < FUTURE_MS]))
    stream = data.draw(arrivals(log, lateness_ms))
    partitions = data.draw(st.sampled_from((1, 2, 3)), label="partitions")
    fate = classify(stream, lateness_ms, now_ms, SKEW_MS)
    result = run(stream, lateness_ms, partitions, now_ms, fate)
    assert fate.final_clock_ms is not None
    final = rates_at(fate.applied(stream), ENTRIES, fate.final_clock_ms)
    assert same_rates(engine_rates(result), final) == {}
    # The future guard and the correction horizon refuse exactly what the clock rule says.
    assert dead_letters(result) == expected_dead_letters(fate)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_alerts_within_the_lateness_equal_the_model_for_any_order_and_partitions(
    data: st.DataObject,
) -> None:
    log = data.draw(event_logs(spans=SPANS))
    lateness_ms = data.draw(allowed_lateness(log))
    first = data.draw(delivered(log, lateness_ms))
    second = data.draw(delivered(log, lateness_ms))
    n = data.draw(st.sampled_from((2, 3, 5)), label="partitions")
    one = run(first, lateness_ms, 1, None)
    many = run(second, lateness_ms, n, None)
    want, _ = expected_alerts(first, lateness_ms, PROFILE)
    assert by_rate(one.alerts) == by_rate(want)
    assert by_rate(many.alerts) == by_rate(want)
    assert not any(a.correction for a in one.alerts + many.alerts)
    # Within the lateness the alerts are the same records, ids included.
    assert sorted(a.alert_id for a in one.alerts) == sorted(a.alert_id for a in many.alerts)
    assert same_rates(engine_rates(one), engine_rates(many)) == {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_alerts_with_late_events_equal_the_model_with_corrections(
    data: st.DataObject,
) -> None:
    log = data.draw(event_logs(spans=SPANS, future=GUARD))
    now_ms = now_for(log)
    lateness_ms = data.draw(allowed_lateness([e for e in log if event_ms(e) < FUTURE_MS]))
    stream = data.draw(arrivals(log, lateness_ms))
    n = data.draw(st.sampled_from((1, 2, 3)), label="partitions")
    result = run(stream, lateness_ms, n, now_ms)
    want, _ = expected_alerts(stream, lateness_ms, PROFILE, now_ms, SKEW_MS)
    assert by_rate(result.alerts) == by_rate(want)
    # One partition or several: the same rates and the same alerts, seller by seller.
    if n > 1:
        single = run(stream, lateness_ms, 1, now_ms)
        assert same_rates(engine_rates(single), engine_rates(result)) == {}
        assert by_rate(single.alerts) == by_rate(result.alerts)


def test_the_replay_has_a_future_guard() -> None:
    # docs/semantics.md: `replay --max-future-skew`, measured against the wall clock when
    # the replay starts; the tests set that clock.
    assert GUARD, "Replayer(..., max_event_ms=...) is missing"
    now = 1_767_571_200_000
    rep = replayer(0, 2, now)
    for i, ms in enumerate((now, now + SKEW_MS, now + SKEW_MS + 1, FUTURE_MS, now + 1)):
        event = {"event_id": f"e{i}", "type": "delivered", "seller_id": "s1",
                 "order_id": "o1", "event_time": _iso(ms)}
        rep.feed(orjson.dumps(event), i + 1)
    result = rep.finish()
    assert dead_letters(result) == [(3, FUTURE), (4, FUTURE)]
    # The clock is not moved by what was refused: the flush takes it to now + skew.
    assert {p.engine.clock_ms for p in result.partitions} == {now + SKEW_MS}


def _iso(ms: int) -> str:
    from streams.core.clock import iso_ms
    return iso_ms(ms)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_partition_follows_the_one_clock_after_every_line(data: st.DataObject) -> None:
    # docs/semantics.md: "After each event every partition releases up to W and its
    # engine's clock moves to W."
    log = data.draw(event_logs(spans=SPANS))
    lateness_ms = data.draw(allowed_lateness(log))
    stream = data.draw(arrivals(log, lateness_ms, late=False, probes=False))
    fate = classify(stream, lateness_ms)
    rep = replayer(lateness_ms, 3, None)
    for i, event in enumerate(stream):
        rep.feed(orjson.dumps(event), i + 1)
        clock = fate.clocks[i + 1] if i + 1 < len(stream) else _after_last(fate, lateness_ms)
        assert [p.engine.clock_ms for p in rep.result.partitions] == [clock] * 3, i + 1
