"""Rates per marketplace and channel, on local days and business days (issue 17)."""

from __future__ import annotations

import tomllib
from datetime import date
from typing import Any, ClassVar

import msgspec
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


# -- one test per finding of issue 17 -----------------------------------------------------

H = 3_600_000
D = 24 * H


def _ev(n: int, kind: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"e{n:03d}", "type": kind, "event_time": at, "seller_id": "s1",
            "order_id": "o1", **fields}


def _placed(n: int, at: str, order: str = "o1", market: str = "US", channel: str = "seller",
            promised: str = "2030-01-01T00:00:00Z") -> dict[str, Any]:
    return _ev(n, "order_placed", at, order_id=order, marketplace=market, channel=channel,
               expected_ship_at=at, promised_delivery_at=promised, units=1)


def _engine_after(profile: Any, events: list[dict[str, Any]], until: str | None = None) -> Any:
    from streams.core.clock import parse_time_ms
    from streams.core.engine import Engine
    engine = Engine(profile)
    for e in events:
        engine.apply(decode_event(orjson.dumps(e)))
    if until is not None:
        engine.advance(parse_time_ms(until))
    return engine


def _one(metric: str, window: int = 60, lag: int = 0, **dims: Any) -> Any:
    return _profile({"r": {"metric": metric, "window_days": window, "lag_days": lag, **dims}})


class TestFindings:
    """Each finding of issue 17 as a case that failed before and passes now."""

    def test_1_amazon_us_counts_its_own_marketplace_only(self) -> None:
        from streams.core.targets import load_profile
        events = [_placed(1, "2026-03-02T12:00:00Z", "o1", "US"),
                  _placed(2, "2026-03-02T12:00:00Z", "o2", "DE"),
                  _ev(3, "feedback_received", "2026-03-03T12:00:00Z", order_id="o2", rating=1)]
        rates = _engine_after(load_profile("amazon-us"), events).rates("s1")
        assert rates["order_defect_rate_60d"] == (0, 1)  # the DE order and its defect: not here

    @pytest.mark.parametrize(("profile", "expected"), [
        ("amazon-us", (0, 1)), ("amazon-us-fba", (1, 1))])
    def test_2_fba_orders_have_rates_of_their_own(self, profile: str,
                                                  expected: tuple[int, int]) -> None:
        from streams.core.targets import load_profile
        events = [_placed(1, "2026-03-02T12:00:00Z", "o1", "US", "seller"),
                  _placed(2, "2026-03-02T12:00:00Z", "o2", "US", "marketplace"),
                  _ev(3, "feedback_received", "2026-03-03T12:00:00Z", order_id="o2", rating=2)]
        rates = _engine_after(load_profile(profile), events).rates("s1")
        assert rates["order_defect_rate_60d"] == expected

    @pytest.mark.parametrize(("at_fault", "expected"), [(True, (1, 1)), (False, (0, 1))])
    def test_3_a_claim_the_marketplace_funds_is_no_defect(self, at_fault: bool,
                                                          expected: tuple[int, int]) -> None:
        events = [_placed(1, "2026-03-02T12:00:00Z"),
                  _ev(2, "claim_filed", "2026-03-03T12:00:00Z", claim_id="c1"),
                  _ev(3, "claim_decided", "2026-03-05T12:00:00Z", claim_id="c1",
                      decision="granted", seller_at_fault=at_fault)]
        assert _engine_after(_one("order_defect"), events).rates("s1")["r"] == expected

    @pytest.mark.parametrize(("dims", "until", "expected"), [
        # Placed 9 Jan 21:00 in Los Angeles (10 Jan 05:00 UTC), judged over one day.
        ({"marketplace": "US"}, "2026-01-10T07:59:59.999Z", (0, 1)),  # still 9 Jan there
        ({"marketplace": "US"}, "2026-01-10T08:00:00Z", (0, 0)),  # 10 Jan: out of the window
        ({}, "2026-01-10T07:59:59.999Z", (0, 1)),  # UTC: 10 Jan already
        ({}, "2026-01-11T00:00:00Z", (0, 0)),
    ])
    def test_4_days_are_the_marketplaces_local_days(self, dims: dict[str, Any], until: str,
                                                    expected: tuple[int, int]) -> None:
        events = [_placed(1, "2026-01-10T05:00:00Z")]
        profile = _one("order_defect", window=1, **dims)
        assert _engine_after(profile, events, until).rates("s1").get("r", (0, 0)) == expected

    @pytest.mark.parametrize(("dims", "expected"), [
        # Received Friday 16 Jan 2026 10:00 PST, refunded Tuesday 20 Jan 11:00 PST: Monday
        # was Martin Luther King Day, so the refund was due by Wednesday in the US.
        ({"marketplace": "US"}, (0, 1)),
        ({}, (1, 1)),  # UTC, no holidays: due Tuesday 18:00 UTC
    ])
    def test_4_business_days_skip_the_marketplaces_holidays(self, dims: dict[str, Any],
                                                            expected: tuple[int, int]) -> None:
        ret = {"return_id": "r1"}
        events = [
            {**_ev(1, "return_requested", "2026-01-15T18:00:00Z", marketplace="US"), **ret},
            {**_ev(2, "return_received", "2026-01-16T18:00:00Z"), **ret},
            {**_ev(3, "refund_issued", "2026-01-20T19:00:00Z"), **ret},
        ]
        for e in events:
            if e["type"] != "return_requested":
                del e["order_id"]
        profile = _one("refund_timeliness", window=30, **dims)
        assert _engine_after(profile, events).rates("s1")["r"] == expected

    @pytest.mark.parametrize(("delivered", "expected"), [
        ("2026-03-05T20:00:00-08:00", (1, 1)),  # on the promised day: on time
        ("2026-03-05T23:59:59.999-08:00", (1, 1)),
        ("2026-03-06T00:00:00-08:00", (0, 1)),  # the next day: late
    ])
    def test_5_a_date_only_promise_lasts_the_whole_day(self, delivered: str,
                                                       expected: tuple[int, int]) -> None:
        events = [_placed(1, "2026-03-01T12:00:00Z", promised="2026-03-05T00:00:00-08:00"),
                  _ev(2, "shipment_confirmed", "2026-03-02T12:00:00Z", carrier="UPS",
                      tracking_number="1Z"),
                  _ev(3, "tracking_validated", "2026-03-02T13:00:00Z"),
                  _ev(4, "delivered", delivered)]
        profile = _one("on_time_delivery", window=30, marketplace="US")
        assert _engine_after(profile, events).rates("s1")["r"] == expected

    @pytest.mark.parametrize(("placed", "early", "reported"), [
        ("2026-03-25T12:00:00Z", (1, 1), (0, 0)),  # 5 days ago: only the early warning
        ("2026-03-10T12:00:00Z", (1, 1), (1, 1)),  # 20 days ago: both
        ("2026-01-20T12:00:00Z", (0, 0), (1, 1)),  # 69 days ago: only what Amazon shows
    ])
    def test_6_the_profile_carries_both_order_defect_rates(
            self, placed: str, early: tuple[int, int], reported: tuple[int, int]) -> None:
        from streams.core.targets import load_profile
        events = [_placed(1, placed), _ev(2, "feedback_received", placed, rating=1)]
        engine = _engine_after(load_profile("amazon-us"), events, "2026-03-30T20:00:00Z")
        rates = engine.rates("s1")
        assert (rates.get("order_defect_rate_60d"),
                rates.get("order_defect_rate_60d_reported")) == (early, reported)

    def test_7_a_moved_bad_order_is_named_live_as_when_restored(self) -> None:
        from streams.core.checkpoint import (
            add_facts,
            decode_facts,
            decode_seller,
            encode_facts,
            encode_seller,
        )
        from streams.core.engine import Engine
        from streams.core.metrics import KINDS
        events = [_placed(1, "2026-03-01T12:00:00Z"),
                  _ev(2, "feedback_received", "2026-03-01T13:00:00Z", rating=1),
                  _placed(3, "2026-03-03T12:00:00Z")]  # a correction: placed two days later
        profile = _one("order_defect", window=1)
        live = _engine_after(profile, events, "2026-03-03T20:00:00Z")
        seller = live.sellers["s1"]
        again = decode_seller(encode_seller(seller))
        for kind in KINDS:
            for facts in seller.objects(kind).values():
                add_facts(again, kind, decode_facts(kind, encode_facts(facts)))
        restored = Engine(profile)
        restored.restore(live.clock_ms, [again])
        named = [e.order_ids(e.sellers["s1"], 0, 1, 1) for e in (live, restored)]
        assert named == [["o1"], ["o1"]]

    @pytest.mark.parametrize(("text", "ms"), [
        ("1969-12-31T23:59:59.500Z", -500),
        ("1969-12-31T23:59:58.999Z", -1001),
        ("1970-01-01T00:00:00.001Z", 1),
    ])
    def test_7_times_before_1970_keep_their_fraction(self, text: str, ms: int) -> None:
        from datetime import datetime

        from streams.core.fold import _ms
        assert _ms(datetime.fromisoformat(text)) == ms

    @pytest.mark.parametrize("placed", ["1970-01-01T12:00:00Z", "1969-12-30T12:00:00Z"])
    def test_7_an_object_on_day_0_or_before_counts(self, placed: str) -> None:
        engine = _engine_after(_one("order_defect", window=3), [_placed(1, placed)])
        assert engine.rates("s1")["r"] == (0, 1)

    def test_7_units_agree_in_the_doc_and_the_schema(self) -> None:
        from pathlib import Path

        from streams.errors import InvalidEvent
        doc = (Path(__file__).parents[1] / "docs" / "semantics.md").read_text()
        assert "`units` (int 1..1,000,000)" in doc
        for units, ok in ((1, True), (1_000_000, True), (1_000_001, False), (0, False)):
            raw = orjson.dumps({**_placed(1, "2026-03-01T12:00:00Z"), "units": units})
            if ok:
                decode_event(raw)
            else:
                with pytest.raises(InvalidEvent):
                    decode_event(raw)


class TestFourSetsOfRates:
    """Under a profile of two marketplaces and both channels, one seller's US and DE,
    seller-fulfilled and FBA orders make four separate order defect rates everywhere."""

    DEFECTS: ClassVar[dict[tuple[str, str], int]] = {
        ("US", "seller"): 6, ("US", "marketplace"): 0, ("DE", "seller"): 2,
        ("DE", "marketplace"): 1}

    def _result(self) -> Any:
        from streams.core.targets import load_profile
        from streams.offline.replay import replay_lines
        events = []
        n = 0
        for (market, channel), defects in self.DEFECTS.items():
            for i in range(120):
                at = f"2026-03-{1 + i % 10:02d}T{10 + i % 8:02d}:00:00Z"
                order = f"{market}-{channel}-{i}"
                n += 1
                events.append(_placed(n, at, order, market, channel))
                if i < defects:
                    n += 1
                    events.append(_ev(n, "feedback_received", at[:11] + "23:00:00Z",
                                      order_id=order, rating=1))
        events.sort(key=lambda e: e["event_time"])
        lines = ((i, orjson.dumps(e)) for i, e in enumerate(events, 1))
        return replay_lines(lines, load_profile("amazon-us-de"), 0), load_profile("amazon-us-de")

    def test_the_snapshot_and_the_view_show_four_rates(self) -> None:
        result, _ = self._result()
        (snap,) = result.snapshots()
        odr = {(r.marketplace, r.channel): (r.numerator, r.denominator, r.metric)
               for r in snap.rates if r.metric.startswith("order_defect_rate_60d.")}
        assert odr == {k: (v, 120, f"order_defect_rate_60d.{k[0]}.{k[1]}")
                       for k, v in self.DEFECTS.items()}
        assert snap.marketplace_health == {"DE": "critical", "US": "critical"}
        assert snap.account_health == "critical"
        view = orjson.loads(msgspec.json.encode(snap))  # what GET /sellers/{id} serves
        assert {(r["marketplace"], r["channel"]) for r in view["rates"]
                if r["metric"].startswith("order_defect_rate_60d.")} == set(self.DEFECTS)

    def test_alerts_carry_their_marketplace_and_channel(self) -> None:
        result, _ = self._result()
        last = {(a.marketplace, a.channel): a.status for a in result.alerts
                if a.metric.startswith("order_defect_rate_60d.")}
        assert last == {("US", "seller"): "breach", ("DE", "seller"): "breach",
                        ("DE", "marketplace"): "at_risk"}
        ids = [a.alert_id for a in result.alerts]
        assert len(ids) == len(set(ids))
        de = next(a for a in result.alerts if a.marketplace == "DE")
        assert de.marketplace_health in ("at_risk", "critical")

    def test_the_demo_offers_the_profile_and_shows_the_four(self) -> None:
        from streams.cli import _parser
        from streams.offline.report import sellers_table
        assert _parser().parse_args(["demo"]).profile == "amazon-us-de"
        result, profile = self._result()
        table = sellers_table(result.snapshots(), profile)
        for market, channel in (("US", "seller"), ("DE", "seller"), ("DE", "marketplace")):
            assert f"order_defect_rate_60d.{market}.{channel}" in table
