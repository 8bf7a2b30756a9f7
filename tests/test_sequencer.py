"""The reorder buffer and the partition in front of the engine: order, duplicates, lateness."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from streams.core.clock import DAY_MS, HOUR_MS, iso_ms
from streams.core.events import event_time_ms
from streams.core.facts import MAX_CORRECTION_MS
from streams.core.partition import Offered, Partition
from streams.core.sequencer import Sequencer
from streams.core.targets import parse_profile

T0 = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1000)
SECOND = 1000
ODR = "order_defect_rate_60d"
HELD, CORRECTED, TOO_LATE = Offered.HELD, Offered.CORRECTED, Offered.TOO_LATE

# (seconds after T0, event id); the ids compare as strings: "a10" < "a9".
EVENTS = [(10, "b"), (10, "a"), (5, "z"), (10, "a10"), (10, "a9"), (7, "c")]
IN_ORDER = ["z", "c", "a", "a10", "a9", "b"]


def released_ids(released) -> list[str]:
    for t, event in released:
        assert t == event_time_ms(event)
    return [event.event_id for _, event in released]


@pytest.mark.parametrize(
    "arrival",
    [
        pytest.param([0, 1, 2, 3, 4, 5], id="as-listed"),
        pytest.param([5, 4, 3, 2, 1, 0], id="reversed"),
        pytest.param([2, 5, 1, 4, 0, 3], id="time-sorted"),
        pytest.param([3, 0, 4, 2, 5, 1], id="shuffled"),
    ],
)
def test_release_is_in_event_time_then_event_id_order_whatever_the_arrival(ev, arrival):
    seq = Sequencer()
    for i in arrival:
        s, event_id = EVENTS[i]
        assert seq.offer(ev.placed(f"o{i}", T0 + s * SECOND, event_id=event_id))
    assert released_ids(seq.release(T0 + 60 * SECOND)) == IN_ORDER
    assert len(seq) == 0


def test_release_holds_events_at_or_after_the_watermark(ev):
    seq = Sequencer()
    for s, event_id in [(1, "a"), (2, "b"), (3, "c")]:
        seq.offer(ev.placed(event_id, T0 + s * SECOND, event_id=event_id))
    assert released_ids(seq.release(T0 + 2 * SECOND)) == ["a"]
    assert len(seq) == 2
    assert seq.release(T0 + 2 * SECOND) == []  # the watermark did not move
    assert seq.release(T0 + SECOND) == []  # nor does it move back
    assert released_ids(seq.flush()) == ["b", "c"]
    assert seq.flush() == []


@pytest.mark.parametrize(
    "arrival",
    [
        pytest.param(["a", "a", "b"], id="duplicate-right-after"),
        pytest.param(["a", "b", "a", "a"], id="duplicates-later"),
        pytest.param(["b", "a", "b", "a"], id="both-twice"),
    ],
)
def test_duplicates_are_released_once(ev, arrival):
    seq = Sequencer()
    times = {"a": T0 + SECOND, "b": T0 + 2 * SECOND}
    for event_id in arrival:
        assert seq.offer(ev.placed(f"o-{event_id}", times[event_id], event_id=event_id))
    assert released_ids(seq.flush()) == ["a", "b"]


def test_offer_refuses_events_older_than_the_last_release(ev):
    seq = Sequencer()
    seq.offer(ev.placed("o1", T0))
    seq.offer(ev.placed("o2", T0 + 10 * SECOND))
    seq.release(T0 + 5 * SECOND)
    assert seq.released_ms == T0 + 5 * SECOND
    assert not seq.offer(ev.placed("o3", T0 + 5 * SECOND - 1))
    assert seq.offer(ev.placed("o4", T0 + 5 * SECOND))  # at the watermark: still in time
    assert len(seq) == 2
    assert not seq.offer(ev.placed("o1", T0))  # a redelivery of a released event, too


# -- the partition ----------------------------------------------------------


def test_a_late_event_is_applied_at_once_as_a_correction(amazon, ev):
    part = Partition(amazon, HOUR_MS)
    assert part.offer(ev.placed("o1", T0)) is HELD
    assert part.drain() == []
    assert part.offer(ev.placed("o2", T0 + 3 * HOUR_MS)) is HELD
    part.drain()  # watermark T0 + 2 h: o1 applied, o2 held, the clock at the watermark
    assert part.engine.clock_ms == T0 + 2 * HOUR_MS
    assert part.pending == 1

    late = ev.feedback("o1", T0 + 30 * 60_000, 1)
    assert part.offer(late) is CORRECTED
    assert (part.corrections_total, part.too_late_total) == (1, 0)
    assert part.engine.rates("s1")[ODR] == (1, 1)  # applied before o2 is released
    part.flush()
    assert part.engine.rates("s1")[ODR] == (1, 2)
    assert part.engine.stats.events_total == 3


def test_the_alerts_a_correction_causes_say_so(ev):
    profile = parse_profile({"name": "t", "entries": {"odr": {
        "metric": "order_defect", "window_days": 60, "direction": "below", "min_sample": 1,
        "versions": [{"since": date(2020, 1, 1), "target": 0.5}]}}})
    part = Partition(profile, HOUR_MS)
    part.offer(ev.placed("o1", T0))
    part.offer(ev.placed("o2", T0 + 3 * HOUR_MS))
    first = part.drain()
    assert first == []  # insufficient_data -> ok is not told
    assert part.offer(ev.feedback("o1", T0 + 30 * 60_000, 1)) is CORRECTED
    alerts = part.drain()
    assert [(a.previous_status, a.status, a.correction) for a in alerts] == [
        ("ok", "breach", True)]
    assert alerts[0].as_of == iso_ms(part.engine.clock_ms)


def test_an_event_older_than_the_correction_horizon_is_too_late(amazon, ev):
    part = Partition(amazon, HOUR_MS)
    part.offer(ev.placed("o1", T0))
    part.offer(ev.placed("o2", T0 + 40 * DAY_MS))
    part.drain()  # clock T0 + 40 d - 1 h
    assert part.offer(ev.feedback("o1", T0 + HOUR_MS, 1)) is TOO_LATE  # 40 d behind
    assert part.offer(ev.placed("o3", part.engine.clock_ms - MAX_CORRECTION_MS)) is CORRECTED
    assert (part.too_late_total, part.corrections_total) == (1, 1)


def test_event_exactly_at_the_watermark_is_applied(amazon, ev):
    part = Partition(amazon, HOUR_MS)
    part.offer(ev.placed("o1", T0))
    part.offer(ev.placed("o2", T0 + 3 * HOUR_MS))
    part.drain()
    assert part.offer(ev.feedback("o1", T0 + 2 * HOUR_MS, 1)) is HELD
    part.flush()
    assert (part.too_late_total, part.corrections_total) == (0, 0)
    assert part.engine.rates("s1")[ODR] == (1, 2)


def scenario(ev) -> list:
    events = [ev.placed(f"o{i}", T0 + i * 60_000) for i in range(5)]
    return [*events, ev.feedback("o1", T0 + HOUR_MS, 1), ev.feedback("o2", T0 + HOUR_MS + 1, 2)]


def test_partition_applies_an_event_redelivered_within_the_lateness_once(amazon, ev):
    events = scenario(ev)
    part = Partition(amazon, HOUR_MS)
    for event in events:
        assert part.offer(event) is HELD
        assert part.offer(event) is HELD
        part.drain()
    part.flush()
    assert (part.too_late_total, part.corrections_total) == (0, 0)
    assert part.engine.stats.events_total == len(events)
    assert part.engine.rates("s1")[ODR] == (2, 5)


def test_a_redelivery_after_release_is_a_correction_that_changes_nothing(amazon, ev):
    events = scenario(ev)
    part = Partition(amazon, HOUR_MS)
    for event in events:
        part.offer(event)
        part.drain()
    part.flush()
    before = part.engine.rates("s1")
    assert [part.offer(e) for e in events] == [CORRECTED] * len(events)
    assert part.drain() == []
    part.flush()
    assert (part.too_late_total, part.corrections_total) == (0, len(events))
    assert part.engine.rates("s1") == before == {**before, ODR: (2, 5)}


def test_late_is_judged_against_the_last_released_watermark(amazon, ev):
    """docs/semantics.md: late means older than the last W *released*, not max seen - lateness.

    So an offer far behind the newest event is still held while no drain has moved W, and
    is applied in order; after a drain the same kind of event is a correction.
    """
    part = Partition(amazon, HOUR_MS)
    assert part.offer(ev.placed("o1", T0 + 10 * HOUR_MS)) is HELD
    assert part.offer(ev.placed("o0", T0)) is HELD  # 10 h behind, 1 h allowed, none released
    part.drain()  # W = T0 + 9 h: o0 applied
    assert part.engine.clock_ms == T0 + 9 * HOUR_MS
    assert part.offer(ev.feedback("o0", T0 + HOUR_MS, 1)) is CORRECTED
    part.flush()
    assert part.engine.rates("s1")[ODR] == (1, 2)
