"""The offline drivers: replay with bad input, demo, simulate and backtest, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import msgspec
import orjson
import pytest

from streams.cli import main
from streams.core.targets import load_profile
from streams.offline.replay import replay_lines
from streams.offline.simulate import SimulationConfig, iter_ndjson

GOOD = [line.rstrip(b"\n") for line in iter_ndjson(
    SimulationConfig(seed=4, sellers=6, days=20, orders_per_seller_day=15.0,
                     degrading_fraction=0.5))]

BAD = [
    (b"this is not json", "not_json", None, "not valid JSON"),
    (b'{"event_id":"b1","type":"feedback_received","event_time":"2026-01-06T00:00:00Z",'
     b'"seller_id":"S00001","order_id":"o","rating":"five"}', "schema", "rating", '"five"'),
    (b'{"event_id":"b2","type":"parcel_lost","event_time":"2026-01-06T00:00:00Z",'
     b'"seller_id":"S00001"}', "unknown_type", "type", '"parcel_lost"'),
    (b'{"event_id":"b3","type":"delivered","event_time":"2026-01-06T00:00:00Z",'
     b'"order_id":"o"}', "schema", "seller_id", "missing"),
    (b'{"event_id":"b4","type":"delivered","event_time":"6 January 2026",'
     b'"seller_id":"S00001","order_id":"o"}', "schema", "event_time", '"6 January 2026"'),
]


def with_bad_lines() -> list[bytes]:
    lines = list(GOOD)
    for i, (raw, *_rest) in enumerate(BAD):
        lines.insert(100 + 250 * i, raw)
    return lines


def test_replay_reports_each_bad_line_and_counts_every_valid_one(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    events.write_bytes(b"\n".join(with_bad_lines()) + b"\n")
    out = tmp_path / "out"
    code = main(["replay", str(events), "--alerts", str(out / "a.ndjson"),
                 "--metrics", str(out / "m.json"), "--dead-letters", str(out / "d.ndjson")])
    assert code == 0
    dead = [orjson.loads(line) for line in (out / "d.ndjson").read_bytes().splitlines()]
    assert [(d["reason"], d["field"]) for d in dead] == [(r, f) for _, r, f, _ in BAD]
    lines = with_bad_lines()
    for d, (raw, _, _, words) in zip(dead, BAD, strict=True):
        assert lines[d["offset"] - 1] == raw, "the line number points at the bad line"
        assert words in d["error"]
    clean = replay_lines(enumerate(GOOD, 1), load_profile("amazon-us"))
    metrics = orjson.loads((out / "m.json").read_bytes())
    assert metrics == [msgspec.to_builtins(s) for s in clean.snapshots()]
    alerts = (out / "a.ndjson").read_bytes().splitlines()
    assert [orjson.loads(a)["alert_id"] for a in alerts] == [a.alert_id for a in clean.alerts]


def test_replay_of_a_missing_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nope.ndjson")]) == 2
    assert "no such event file" in capsys.readouterr().err


def test_demo_prints_sellers_in_breach_and_catches_the_degrading_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--sellers", "30", "--days", "60"]) == 0
    out = capsys.readouterr().out
    assert "Sellers at risk or in breach" in out
    assert "Alerts raised" in out
    assert "events/s" in out
    planted = out.split("Degrading sellers planted by the simulator: ")[1]
    count, caught = planted.split(", of which in breach at some point: ")
    assert int(count) >= 1
    assert int(caught.split()[0]) == int(count), out[-800:]


def test_simulate_writes_the_seeded_stream(tmp_path: Path) -> None:
    target = tmp_path / "sim.ndjson"
    assert main(["simulate", "--sellers", "6", "--days", "20", "--orders-per-day", "15",
                 "--seed", "4", "--out", str(target)]) == 0
    config = SimulationConfig(seed=4, sellers=6, days=20, orders_per_seller_day=15.0)
    assert target.read_bytes() == b"".join(iter_ndjson(config))


def test_backtest_lists_sellers_whose_health_changes_under_a_stricter_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.ndjson"
    events.write_bytes(b"\n".join(GOOD) + b"\n")
    strict = tmp_path / "strict.toml"
    strict.write_text(
        (Path(__file__).parent.parent / "deploy/targets/amazon-us.toml").read_text()
        .replace("target = 0.04,", "target = 0.001,").replace('name = "amazon-us"',
                                                              'name = "strict"'))
    assert main(["backtest", "--targets", str(strict), str(events)]) == 0
    out = capsys.readouterr().out
    assert "Current profile: amazon-us; proposed: strict" in out
    changed = int(out.rsplit(" of ", 1)[0].split()[-1])
    assert changed >= 1, out
