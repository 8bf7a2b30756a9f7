"""Target profiles: the shipped ones load, malformed ones are refused with a precise message."""

from __future__ import annotations

import copy
import tomllib
from datetime import UTC, date, datetime
from typing import Any

import pytest

from streams.core.clock import day_from_date
from streams.core.metrics import registered
from streams.core.targets import PROFILES_DIR, load_profile, parse_profile
from streams.errors import TargetProfileError

BASE: dict[str, Any] = {
    "name": "p",
    "entries": {
        "odr": {
            "metric": "order_defect",
            "window_days": 60,
            "direction": "below",
            "versions": [
                {"since": date(2026, 1, 1), "target": 0.05, "warning_margin": 0.005},
                {"since": date(2026, 2, 1), "target": 0.01, "warning_margin": 0.0025},
            ],
        }
    },
}


def with_(path: str, value: Any) -> dict[str, Any]:
    """BASE with one field of entry `odr` (dotted path, [i] for a version) replaced."""
    data = copy.deepcopy(BASE)
    node: Any = data["entries"]["odr"]
    *parents, last = path.split(".")
    for part in parents:
        node = node["versions"][int(part[9:-1])] if part.startswith("versions[") else node[part]
    node[last] = value
    return data


def test_base_profile_parses_with_both_versions():
    p = parse_profile(BASE)
    (e,) = p.entries
    assert (e.name, e.metric, e.window_days, e.lag_days, e.direction) == (
        "odr", "order_defect", 60, 0, "below")
    assert (e.min_sample, e.min_numerator, e.hysteresis) == (1, 0, 0.0)
    assert e.title == "Order defect rate"
    assert [(v.target, v.version_id) for v in e.versions] == [
        (0.05, "p/odr@2026-01-01"), (0.01, "p/odr@2026-02-01")]


@pytest.mark.parametrize(
    ("day", "target"),
    [
        pytest.param(date(2025, 12, 31), 0.05, id="before-first-version-uses-the-oldest"),
        pytest.param(date(2026, 1, 1), 0.05, id="first-version-from-its-day"),
        pytest.param(date(2026, 1, 31), 0.05, id="last-day-before-the-change"),
        pytest.param(date(2026, 2, 1), 0.01, id="new-version-from-its-day"),
        pytest.param(date(2027, 6, 1), 0.01, id="long-after"),
    ],
)
def test_version_in_force_on_a_day(day, target):
    (e,) = parse_profile(BASE).entries
    assert e.version_at(day_from_date(day)).target == target


# (id, mutated profile, words the message must contain: the field and the value)
ERROR_CASES = [
    pytest.param(with_("metric", "order_defects"), ["entries.odr.metric", "'order_defects'"],
                 id="unknown-metric"),
    pytest.param(with_("direction", "sideways"), ["entries.odr.direction", "'sideways'"],
                 id="bad-direction"),
    pytest.param(with_("window_days", -7), ["entries.odr.window_days", "-7"],
                 id="negative-window"),
    pytest.param(with_("window_days", 0), ["entries.odr.window_days", "got 0"], id="zero-window"),
    pytest.param(with_("window_days", True), ["entries.odr.window_days", "True"],
                 id="boolean-window"),
    pytest.param(with_("lag_days", -1), ["entries.odr.lag_days", "-1"], id="negative-lag"),
    pytest.param(with_("min_sample", -5), ["entries.odr.min_sample", "-5"],
                 id="negative-min-sample"),
    pytest.param(with_("hysteresis", 1.5), ["entries.odr.hysteresis", "1.5"],
                 id="hysteresis-over-one"),
    pytest.param(with_("versions[0].target", 2), ["versions[0].target", "2"],
                 id="target-over-one"),
    pytest.param(with_("versions[1].warning_margin", -0.1),
                 ["versions[1].warning_margin", "-0.1"], id="negative-margin"),
    pytest.param(with_("versions[0].since", "2026-01-01"),
                 ["versions[0].since", "'2026-01-01'"], id="since-not-a-date"),
    pytest.param(with_("versions", []), ["entries.odr.versions", "empty"], id="no-versions"),
    pytest.param(
        with_("versions", list(reversed(BASE["entries"]["odr"]["versions"]))),
        ["entries.odr.versions", "2026-02-01", "2026-01-01"],
        id="unsorted-versions",
    ),
    pytest.param({"name": "p", "entries": {}}, ["`entries` is empty"], id="no-entries"),
    pytest.param({"entries": BASE["entries"]}, ["field `name`", "None"], id="no-name"),
]


@pytest.mark.parametrize(("data", "words"), ERROR_CASES)
def test_malformed_profile_is_refused_naming_the_field_and_the_value(data, words):
    with pytest.raises(TargetProfileError) as info:
        parse_profile(data)
    for word in words:
        assert word in str(info.value)


def test_unsorted_versions_are_refused():
    data = with_("versions", list(reversed(BASE["entries"]["odr"]["versions"])))
    with pytest.raises(TargetProfileError, match=r"entries\.odr\.versions"):
        parse_profile(data)


def test_since_given_as_a_date_time_is_refused_with_a_profile_error():
    data = with_("versions[0].since", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(TargetProfileError, match=r"versions\[0\]\.since"):
        parse_profile(data)


def test_missing_profile_file_names_the_path_and_the_known_profiles(tmp_path):
    with pytest.raises(TargetProfileError) as info:
        load_profile("no-such-profile")
    message = str(info.value)
    assert str(PROFILES_DIR / "no-such-profile.toml") in message
    assert "amazon-us, amazon-us-de, amazon-us-fba, ebay, walmart" in message

    with pytest.raises(TargetProfileError, match=r"missing\.toml"):
        load_profile(tmp_path / "missing.toml")


def test_invalid_toml_file_is_a_profile_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\n[entries.a\n', encoding="utf-8")
    with pytest.raises(TargetProfileError, match=r"broken\.toml: not valid TOML"):
        load_profile(path)


def test_profile_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\n[entries.odr]\nmetric = "nope"\nwindow_days = 60\ndirection = "below"\n'
        'versions = [{ since = 2026-01-01, target = 0.01 }]\n', encoding="utf-8")
    with pytest.raises(TargetProfileError) as info:
        load_profile(path)
    assert f"{path}: entries.odr.metric" in str(info.value)
    assert "'nope'" in str(info.value)


@pytest.mark.parametrize("name", ["amazon-us", "ebay", "walmart"])
def test_shipped_profile_loads_every_entry_of_its_file(name):
    path = PROFILES_DIR / f"{name}.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    profile = load_profile(name)
    assert profile.name == name
    assert load_profile(path) == profile
    assert [e.name for e in profile.entries] == list(raw["entries"])
    metrics = registered()
    for e, spec in zip(profile.entries, raw["entries"].values(), strict=True):
        assert e.metric == spec["metric"] and e.metric in metrics
        assert e.window_days == spec["window_days"]
        assert e.direction == spec["direction"]
        assert [v.target for v in e.versions] == [v["target"] for v in spec["versions"]]
        assert e.versions[0].version_id.startswith(f"{name}/{e.name}@")


def test_shipped_amazon_order_defect_rate_is_one_percent_over_60_days():
    e = next(e for e in load_profile("amazon-us").entries if e.name == "order_defect_rate_60d")
    assert (e.metric, e.window_days, e.direction) == ("order_defect", 60, "below")
    assert e.versions[0].target == 0.01
