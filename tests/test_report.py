"""The demo's tables: statuses held by hysteresis and insufficient samples are explained."""

from __future__ import annotations

from typing import Any

import pytest

from streams.core.alerts import Alert, Status
from streams.core.outputs import RateValue, SellerSnapshot
from streams.core.targets import TargetProfile, load_profile
from streams.offline import report

AMAZON = load_profile("amazon-us")


def entry(name: str) -> Any:
    return next(e for e in AMAZON.entries if e.name == name)


def rate(metric: str, status: str, num: int, den: int, **extra: Any) -> RateValue:
    e = entry(metric)
    version = e.versions[-1]
    fields: dict[str, Any] = dict(
        metric=metric, title=e.title, value=num / den if den else None, numerator=num,
        denominator=den, target=version.target, direction=e.direction, status=status,
        window_days=e.window_days, lag_days=e.lag_days, window_start="2026-03-01",
        window_end="2026-03-30", target_version=version.version_id, order_ids=["O-1"])
    fields.update(extra)
    return RateValue(**fields)


def snapshot(*rates: RateValue, seller: str = "S00001") -> SellerSnapshot:
    return SellerSnapshot(seller_id=seller, as_of="2026-03-30T00:00:00.000Z",
                          target_profile="amazon-us", account_health="critical",
                          rates=list(rates))


def alert(metric: str, previous: Status, status: Status, num: int, den: int) -> Alert:
    e = entry(metric)
    version = e.versions[-1]
    return Alert(
        alert_id="a1", seller_id="S00001", metric=metric, title=e.title, status=status,
        previous_status=previous, value=num / den if den else None, numerator=num,
        denominator=den, target=version.target, direction=e.direction,
        warning_margin=version.warning_margin, window_days=e.window_days, lag_days=e.lag_days,
        window_start="2026-03-01", window_end="2026-03-07", target_profile="amazon-us",
        target_version=version.version_id, as_of="2026-03-07T10:00:00.000Z", order_ids=[],
        account_health="healthy")


# cancel_rate_7d: below 2.5 %, at risk from 2.0 %, hysteresis 0.2 points.
# valid_tracking_rate_30d: above 95 %, at risk up to 96 %, hysteresis 0.5 points.
HELD = [
    ("cancel_rate_7d", "breach", 12, 500, True),    # 2.4 %: meets the target, still breach
    ("cancel_rate_7d", "breach", 15, 500, False),   # 3.0 %: a breach on its own
    ("cancel_rate_7d", "at_risk", 9, 500, True),    # 1.8 %: out of the band, still at risk
    ("cancel_rate_7d", "at_risk", 11, 500, False),  # 2.2 %: at risk on its own
    ("valid_tracking_rate_30d", "breach", 476, 500, True),    # 95.2 % > 95 %
    ("valid_tracking_rate_30d", "breach", 470, 500, False),   # 94.0 %
    ("cancel_rate_7d", "ok", 1, 500, False),
]


@pytest.mark.parametrize(("metric", "status", "num", "den", "held"), HELD)
def test_a_status_worse_than_its_value_is_held_by_hysteresis(
    metric: str, status: str, num: int, den: int, held: bool
) -> None:
    assert report.is_held(rate(metric, status, num, den), entry(metric)) is held


@pytest.mark.parametrize(("metric", "status", "num", "den", "held"),
                         [h for h in HELD if h[1] == "breach"])
def test_without_the_profile_a_breach_meeting_its_target_is_still_seen_as_held(
    metric: str, status: str, num: int, den: int, held: bool
) -> None:
    assert report.is_held(rate(metric, status, num, den), None) is held


def test_the_sellers_table_marks_held_rows_and_explains_them_once() -> None:
    snaps = [snapshot(rate("cancel_rate_7d", "breach", 12, 500)),
             snapshot(rate("valid_tracking_rate_30d", "breach", 470, 500), seller="S00002"),
             snapshot(rate("valid_tracking_rate_30d", "breach", 476, 500), seller="S00003")]
    text = report.sellers_table(snaps, AMAZON)
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("S0")}
    assert "breach (held)" in rows["S00001"] and "breach (held)" in rows["S00003"]
    assert "(held)" not in rows["S00002"]
    assert text.count("(held): ") == 1
    assert "hysteresis" in text.split("(held): ")[1]


def test_the_sellers_table_says_nothing_of_hysteresis_when_nothing_is_held() -> None:
    text = report.sellers_table([snapshot(rate("cancel_rate_7d", "breach", 15, 500))], AMAZON)
    assert "held" not in text and "hysteresis" not in text


def test_a_change_to_insufficient_data_shows_the_sample_and_its_minimum() -> None:
    text = report.alerts_table([alert("cancel_rate_7d", "ok", "at_risk", 5, 220),
                                alert("cancel_rate_7d", "breach", "insufficient_data", 2, 46)],
                               AMAZON)
    rows = [line for line in text.splitlines() if "S00001" in line]
    assert rows[0].endswith("5 / 220")
    assert "breach -> insufficient_data" in rows[1] and rows[1].endswith("2 / 46 (min 50)")
    note = text.split("(min N): ")[1]
    assert "min_sample" in note and "insufficient_data" in note


def test_the_alerts_table_has_no_minimum_note_without_insufficient_data() -> None:
    text = report.alerts_table([alert("cancel_rate_7d", "ok", "at_risk", 5, 220)], AMAZON)
    assert "(min" not in text


@pytest.mark.parametrize("profile", [AMAZON, None])
def test_empty_tables_say_none(profile: TargetProfile | None) -> None:
    assert report.sellers_table([snapshot(rate("cancel_rate_7d", "ok", 1, 500))],
                                profile) == "(none)"
    assert report.alerts_table([], profile) == "(none)"
