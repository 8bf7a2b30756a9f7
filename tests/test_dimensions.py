"""Rates per marketplace and channel, on local days and business days (issue 17)."""

from __future__ import annotations

import tomllib
from datetime import date
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import recompute
from strategies import allowed_lateness, delivered, event_logs

from streams.core.calendar import CALENDARS_DIR, Calendar, Calendars
from streams.core.events import decode_event
from streams.core.partition import Partition
from streams.core.targets import parse_profile

SINCE = [{"since": date(2020, 1, 1), "target": 0.5}]


def _profile(entries: dict[str, dict[str, Any]], **top: Any) -> Any:
    return parse_profile({"name": "dims", **top, "entries": {
        name: {"direction": "below", "min_sample": 1, "versions": SINCE, **spec}
        for name, spec in entries.items()}})


PROFILE = _profile({
    "odr_us_seller": {"metric": "order_defect", "window_days": 60, "marketplace": "US",
                      "channel": "seller"},
    "odr": {"metric": "order_defect", "window_days": 7, "lag_days": 3,
            "split_by": ["marketplace", "channel"], "marketplaces": ["US", "DE"]},
    "lsr_de": {"metric": "late_shipment", "window_days": 10, "marketplace": "DE"},
    "otd_us": {"metric": "on_time_delivery", "window_days": 14, "marketplace": "US"},
    "otd_any": {"metric": "on_time_delivery", "window_days": 3, "lag_days": 1},
    "crt_us": {"metric": "contact_response", "window_days": 7, "marketplace": "US"},
    "crt48_seller": {"metric": "contact_response_48h", "window_days": 30, "channel": "seller"},
    "rdr_de_fba": {"metric": "return_dissatisfaction", "window_days": 30, "marketplace": "DE",
                   "channel": "marketplace"},
    "refund_us": {"metric": "refund_timeliness", "window_days": 30, "marketplace": "US"},
    "refund_de": {"metric": "refund_timeliness", "window_days": 30, "marketplace": "DE"},
    "refund_any": {"metric": "refund_timeliness", "window_days": 2},
    "vtr": {"metric": "valid_tracking", "window_days": 30, "split_by": ["channel"]},
    "cancel_us": {"metric": "seller_cancel", "window_days": 7, "marketplace": "US"},
    "tdr_jp": {"metric": "transaction_defect", "window_days": 90, "marketplace": "JP"},
    "nfb": {"metric": "negative_feedback", "window_days": 60},
}, calendar="JP")
ENTRIES = [(e.name, e.metric, e.window_days, e.lag_days, e.marketplace, e.channel)
           for e in PROFILE.entries]


def _oracle_calendars() -> dict[str, tuple[str, frozenset[date]]]:
    """The calendar files, read here as the oracle's input (not through the engine)."""
    out = {}
    for path in CALENDARS_DIR.glob("*.toml"):
        data = tomllib.loads(path.read_text())
        out[path.stem] = (data["time_zone"], frozenset(data["holidays"]))
    return out


CALENDARS = _oracle_calendars()


def _rates(part: Partition) -> dict[tuple[str, str], tuple[int, int]]:
    return {(seller, name): v for seller in part.engine.sellers
            for name, v in part.engine.rates(seller).items() if v != (0, 0)}


def _run(profile: Any, stream: list[dict[str, Any]], lateness_ms: int = 0) -> Partition:
    part = Partition(profile, lateness_ms)
    for event in stream:
        assert part.offer(decode_event(orjson.dumps(event)))
        part.drain()
    return part


class TestAgainstTheOracle:
    """Filtered and split rates, local days, holidays: the engine equals a brute force."""

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def test_rates_per_dimension_equal_brute_force(self, data: st.DataObject) -> None:
        log = data.draw(event_logs())
        lateness_ms = data.draw(allowed_lateness(log))
        part = _run(PROFILE, data.draw(delivered(log, lateness_ms)), lateness_ms)
        part.flush()
        clock, expected = recompute(log, ENTRIES, 0, CALENDARS, "JP")
        assert part.engine.clock_ms == clock
        assert _rates(part) == {k: v for k, v in expected.items() if v != (0, 0)}
        step = data.draw(st.integers(1, 40 * 86_400_000))
        part.engine.advance(clock + step)
        assert _rates(part) == {k: v for k, v in recompute(log, ENTRIES, -step, CALENDARS,
                                                           "JP")[1].items() if v != (0, 0)}


class TestCalendar:
    """Local days, day starts across DST, business days and date-only promises."""

    LA = Calendar("US", "America/Los_Angeles", frozenset({20472}))  # 2026-01-19, MLK day

    @pytest.mark.parametrize(("text", "local_day"), [
        ("2026-03-08T07:59:59.999Z", "2026-03-07"),  # 23:59:59.999 PST
        ("2026-03-08T08:00:00Z", "2026-03-08"),  # midnight PST; the day is 23 hours long
        ("2026-03-09T06:59:59.999Z", "2026-03-08"),
        ("2026-03-09T07:00:00Z", "2026-03-09"),  # midnight PDT
        ("2026-11-01T06:59:59.999Z", "2026-10-31"),
        ("2026-11-01T07:00:00Z", "2026-11-01"),  # a 25-hour day
        ("2026-11-02T07:59:59.999Z", "2026-11-01"),
        ("2026-11-02T08:00:00Z", "2026-11-02"),
    ])
    def test_local_days_follow_the_zone_across_dst(self, text: str, local_day: str) -> None:
        from streams.core.clock import day_from_date, parse_time_ms
        ms = parse_time_ms(text)
        day = day_from_date(date.fromisoformat(local_day))
        assert self.LA.day_of(ms) == day
        assert self.LA.start_ms(day) <= ms < self.LA.start_ms(day + 1)

    @pytest.mark.parametrize(("received", "due"), [
        # Friday 16 Jan 2026, 10:00 PST: Mon 19 is MLK day, so Tue 20 and Wed 21.
        ("2026-01-16T18:00:00Z", "2026-01-21T18:00:00Z"),
        # Thursday: Friday and (the weekend, the holiday) Tuesday.
        ("2026-01-15T18:00:00Z", "2026-01-20T18:00:00Z"),
        # Friday 6 March 10:00 PST; DST starts Sunday: Tuesday 10:00 PDT, an hour earlier UTC.
        ("2026-03-06T18:00:00Z", "2026-03-10T17:00:00Z"),
    ])
    def test_business_days_skip_weekends_and_holidays(self, received: str, due: str) -> None:
        from streams.core.clock import parse_time_ms
        assert self.LA.add_business_days(parse_time_ms(received), 2) == parse_time_ms(due)

    @pytest.mark.parametrize(("promised", "end"), [
        ("2026-03-05T00:00:00-08:00", "2026-03-05T23:59:59.999-08:00"),  # date-only
        ("2026-03-05T08:00:00Z", "2026-03-05T23:59:59.999-08:00"),  # the same instant
        ("2026-03-05T00:00:00.001-08:00", "2026-03-05T00:00:00.001-08:00"),  # a time
        ("2026-03-05T00:00:00Z", "2026-03-05T00:00:00Z"),  # UTC midnight is 16:00 in LA
        ("2026-03-07T00:00:00-08:00", "2026-03-07T23:59:59.999-08:00"),
        ("2026-03-08T00:00:00-08:00", "2026-03-08T23:59:59.999-07:00"),  # a 23-hour day
    ])
    def test_a_date_only_promise_ends_with_its_local_day(self, promised: str, end: str) -> None:
        from streams.core.clock import parse_time_ms
        assert self.LA.promise_end(parse_time_ms(promised)) == parse_time_ms(end)

    def test_a_marketplace_without_a_calendar_file_is_utc(self, tmp_path: Any) -> None:
        cal = Calendars(tmp_path).of("XX")
        assert (cal.time_zone, cal.holidays, cal.day_of(86_400_000)) == ("UTC", frozenset(), 1)

    @pytest.mark.parametrize(("text", "error"), [
        ('time_zone = "Mars/Olympus"', "time_zone 'Mars/Olympus' is not a known IANA"),
        ("holidays = []", "field `time_zone`: got None"),
        ('time_zone = "UTC"\nholidays = ["2026-01-01"]', "holidays[0]: got '2026-01-01'"),
    ])
    def test_a_bad_calendar_file_is_one_line(self, tmp_path: Any, text: str, error: str) -> None:
        from streams.errors import TargetProfileError
        (tmp_path / "ZZ.toml").write_text(text)
        with pytest.raises(TargetProfileError, match=error.replace("[", r"\[")):
            Calendars(tmp_path).of("ZZ")
