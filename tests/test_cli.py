"""The offline drivers: replay with bad input, demo, simulate and backtest, as a user runs them."""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from tqdm import tqdm

from streams.cli import _parser, by_day, main, parse_start, settings_docs
from streams.core.clock import DAY_MS, parse_time_ms
from streams.core.targets import load_profile
from streams.kafka.client import reachable
from streams.kafka.settings import Settings
from streams.offline.replay import replay_lines
from streams.offline.simulate import DEFAULT_START_MS, SimulationConfig, generate, iter_ndjson

GOOD = [line.rstrip(b"\n") for line in iter_ndjson(
    SimulationConfig(seed=4, sellers=6, days=20, orders_per_seller_day=15.0,
                     degrading_fraction=0.5))]

@pytest.fixture(autouse=True)
def in_a_fresh_folder(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in an empty folder of its own: default outputs (out/) land there."""
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    return cwd


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
    # Bad UTF-8 in a field the decoder skips: not JSON text (msgspec alone let it through).
    (b'{"event_id":"b5","type":"delivered","event_time":"2026-01-06T00:00:00Z",'
     b'"seller_id":"S00001","order_id":"o","note":"\xff\xfe"}', "not_json", None,
     "not valid UTF-8"),
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


# ---------------------------------------------------------------- usage mistakes: one line, exit 2

def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the command in-process; it must fail with status 2 and one line on stderr."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    return lines[0]


def run_cli(argv: list[str], env: dict[str, str] | None = None,
            timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `sellerperf` as a user does, in a fresh interpreter (warnings at exit included)."""
    return subprocess.run([sys.executable, "-m", "streams.cli", *argv], capture_output=True,
                          text=True, timeout=timeout_s, env={**os.environ, **(env or {})},
                          check=False)


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BAD_ARGUMENTS = [
    # (argv, the option named, the value shown, what was expected)
    (["demo", "--sellers", "-3"], "--sellers", "'-3'", "integer >= 0"),
    (["demo", "--days", "0"], "--days", "'0'", "integer >= 1"),
    (["demo", "--orders-per-day", "abc"], "--orders-per-day", "'abc'", "number > 0"),
    (["demo", "--orders-per-day", "nan"], "--orders-per-day", "'nan'", "number > 0"),
    (["demo", "--orders-per-day", "0"], "--orders-per-day", "'0'", "number > 0"),
    (["demo", "--seed", "x"], "--seed", "'x'", "an integer"),
    (["demo", "--disorder-ms", "-5"], "--disorder-ms", "'-5'", "integer >= 0"),
    (["demo", "--lateness-ms", "-1"], "--lateness-ms", "'-1'", "integer >= 0"),
    (["demo", "--partitions", "0"], "--partitions", "'0'", "integer >= 1"),
    (["demo", "--start", "yesterday"], "--start", "'yesterday'", "now, now-<N>d, a date"),
    (["demo", "--start", "2026-01-05T00:00"], "--start", "'2026-01-05T00:00'", "UTC offset"),
    (["simulate", "--sellers", "many"], "--sellers", "'many'", "integer >= 0"),
    (["simulate", "--days", "-2"], "--days", "'-2'", "integer >= 1"),
    (["simulate", "--to", "kafka", "--rate", "0"], "--rate", "'0'", "number > 0"),
    (["simulate", "--to", "kafka", "--rate", "inf"], "--rate", "'inf'", "number > 0"),
    (["simulate", "--to", "printer"], "--to", "'printer'", "choose from 'file', 'kafka'"),
    (["replay", "x.ndjson", "--partitions", "-1"], "--partitions", "'-1'", "integer >= 1"),
    (["replay", "x.ndjson", "--lateness-ms", "1m"], "--lateness-ms", "'1m'", "integer >= 0"),
    (["replay"], "events", "required", "required"),
    (["backtest", "x.ndjson"], "--targets", "required", "required"),
    (["backtest", "x.ndjson", "--targets", "ebay", "--partitions", "0"], "--partitions", "'0'",
     "integer >= 1"),
    (["topics", "delete"], "action", "'delete'", "choose from 'create'"),
    (["worker", "--workers", "3"], "unrecognized", "--workers", "arguments"),
    (["sell"], "COMMAND", "'sell'", "choose from"),
    ([], "COMMAND", "required", "required"),
]


@pytest.mark.parametrize(("argv", "field", "value", "expected"), BAD_ARGUMENTS,
                         ids=[" ".join(a[0]) or "(none)" for a in BAD_ARGUMENTS])
def test_a_bad_argument_is_one_line_naming_the_option_the_value_and_what_was_expected(
    capsys: pytest.CaptureFixture[str], argv: list[str], field: str, value: str, expected: str
) -> None:
    line = one_line_error(capsys, argv)
    assert line.startswith("sellerperf")
    assert field in line and value in line and expected in line, line


def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(GOOD) + b"\n")
    return path


def test_replay_of_a_folder_is_one_line(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, ["replay", str(tmp_path)])
    assert f"{tmp_path}: is a folder; expected an NDJSON event file" in line


def test_replay_of_a_missing_file_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    line = one_line_error(capsys, ["replay", str(tmp_path / "nope.ndjson"),
                                   "--alerts", str(out / "a.ndjson")])
    assert f"no such event file: {tmp_path / 'nope.ndjson'}" in line
    assert not out.exists(), "no output folder is made for a replay that cannot start"


def test_replay_of_a_file_with_no_event_names_the_first_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "orders.csv"
    bad.write_text("order_id,seller\nO-1,S1\n")
    line = one_line_error(capsys, ["replay", str(bad)])
    assert f"{bad}: none of its 2 lines is a valid event (line 1: not valid JSON" in line
    assert "expected NDJSON" in line
    assert not Path("out").exists(), "a replay that fails makes no output folder"


def test_replay_of_an_empty_file_says_it_has_no_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.ndjson"
    empty.write_text("\n\n")
    line = one_line_error(capsys, ["replay", str(empty), "--alerts", str(tmp_path / "a")])
    assert f"{empty}: no events" in line


def test_replay_output_where_a_file_is_in_the_way_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").write_text("a file, not a folder")
    line = one_line_error(capsys, ["replay", str(events_file(tmp_path)),
                                   "--metrics", str(tmp_path / "out" / "m.json")])
    assert f"--metrics {tmp_path / 'out' / 'm.json'}: a file is in the way" in line


def test_replay_output_that_is_a_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(capsys, ["replay", str(events_file(tmp_path)),
                                   "--alerts", str(tmp_path)])
    assert f"--alerts {tmp_path}: is a folder; expected a file path" in line


def test_replay_output_in_a_missing_folder_creates_the_folder(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    assert main(["replay", str(events_file(tmp_path)), "--alerts", str(deep / "a.ndjson"),
                 "--metrics", str(deep / "m.json"),
                 "--dead-letters", str(deep / "d.ndjson")]) == 0
    assert (deep / "m.json").stat().st_size > 0


def test_replay_with_an_unknown_profile_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(capsys, ["replay", str(events_file(tmp_path)),
                                   "--profile", "amazon-eu"])
    assert "amazon-eu.toml" in line and "known: amazon-us" in line


def test_replay_with_a_profile_of_bad_toml_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[entries.x\n')
    line = one_line_error(capsys, ["replay", str(events_file(tmp_path)), "--profile", str(bad)])
    assert f"{bad}: not valid TOML" in line


def test_replay_with_a_profile_of_a_bad_value_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (Path(__file__).parent.parent / "deploy/targets/amazon-us.toml").read_text()
        .replace("min_sample = 100", "min_sample = -1", 1))
    line = one_line_error(capsys, ["replay", str(events_file(tmp_path)), "--profile", str(bad)])
    assert "min_sample: got -1; expected an integer >= 0" in line


@pytest.mark.parametrize("command", [["demo"], ["replay", "EVENTS"],
                                     ["backtest", "EVENTS", "--targets", "ebay"]],
                         ids=["demo", "replay", "backtest"])
@pytest.mark.parametrize(("make", "says"), [
    (lambda p: p.mkdir(), "is a folder; expected a TOML target profile"),
    (lambda p: p.write_bytes(b"name = \"\xd0\x00\xff\""), "not UTF-8 text (byte 8)"),
], ids=["a folder", "not text"])
def test_a_profile_that_is_no_text_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str],
    make: Any, says: str
) -> None:
    profile = tmp_path / "p.toml"
    make(profile)
    argv = [str(events_file(tmp_path)) if a == "EVENTS" else a for a in command]
    line = one_line_error(capsys, [*argv, "--profile", str(profile)])
    assert f"--profile {profile}: {says}" in line


def test_backtest_with_a_proposed_profile_that_is_a_folder_names_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "proposed.toml"
    folder.mkdir()
    line = one_line_error(capsys, ["backtest", str(events_file(tmp_path)),
                                   "--targets", str(folder)])
    assert f"--targets {folder}: is a folder" in line


def test_backtest_of_a_folder_is_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, ["backtest", str(tmp_path), "--targets", "ebay"])
    assert f"{tmp_path}: is a folder" in line


def test_backtest_of_a_missing_file_is_one_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, ["backtest", str(tmp_path / "x.ndjson"), "--targets", "ebay"])
    assert "no such event file" in line


def test_backtest_refuses_stdin_because_it_reads_the_file_twice(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = one_line_error(capsys, ["backtest", "-", "--targets", "ebay"])
    assert "events -" in line and "expected a file path" in line


def test_backtest_with_an_unknown_proposed_profile_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(capsys, ["backtest", str(events_file(tmp_path)), "--targets", "strict"])
    assert "strict.toml" in line and "known:" in line


def test_backtest_of_a_file_with_no_event_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "x.ndjson"
    bad.write_text('{"type": "order_placed"}\n')
    line = one_line_error(capsys, ["backtest", str(bad), "--targets", "ebay"])
    assert "none of its 1 lines is a valid event" in line


def test_simulate_output_where_a_file_is_in_the_way_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").write_text("")
    line = one_line_error(capsys, ["simulate", "--days", "1", "--sellers", "1",
                                   "--out", str(tmp_path / "data" / "e.ndjson")])
    assert f"--out {tmp_path / 'data' / 'e.ndjson'}: a file is in the way" in line


def test_simulate_output_in_a_missing_folder_creates_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "e.ndjson"
    assert main(["simulate", "--days", "2", "--sellers", "2", "--out", str(target)]) == 0
    assert target.read_bytes().count(b"\n") > 10


def test_simulate_to_kafka_refuses_out(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, ["simulate", "--to", "kafka", "--out", "e.ndjson"])
    assert "--out e.ndjson: not used with --to kafka" in line


def test_simulate_to_a_file_refuses_rate(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, ["simulate", "--rate", "100"])
    assert "--rate 100: only used with --to kafka" in line


def test_schemas_check_of_a_missing_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(capsys, ["schemas", "--check", "--root", str(tmp_path / "nope")])
    assert f"--root {tmp_path / 'nope'}: no such folder" in line


def test_schemas_written_where_a_file_is_in_the_way_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    line = one_line_error(capsys, ["schemas", "--root", str(tmp_path / "file" / "schemas")])
    assert str(tmp_path / "file") in line


def test_a_bad_kafka_setting_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SELLERPERF_PARTITIONS", "four")
    line = one_line_error(capsys, ["topics", "create"])
    assert "SELLERPERF_PARTITIONS: got 'four'; expected an integer" in line


@pytest.mark.parametrize("argv", [
    ["topics", "create"],
    ["simulate", "--to", "kafka", "--sellers", "2", "--days", "1"],
    ["worker"],
], ids=["topics create", "simulate --to kafka", "worker"])
def test_no_broker_is_one_line_naming_the_bootstrap_servers(argv: list[str]) -> None:
    servers = f"127.0.0.1:{closed_port()}"
    started = time.perf_counter()
    done = run_cli(argv, {"KAFKA_BOOTSTRAP_SERVERS": servers})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr
    lines = done.stderr.strip("\n").splitlines()
    assert len(lines) == 1, done.stderr
    assert f"KAFKA_BOOTSTRAP_SERVERS={servers}: no Kafka broker answered" in lines[0]
    assert time.perf_counter() - started < 30


def test_a_broker_that_never_answers_is_given_up_on_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.kafka import client

    monkeypatch.setattr(client, "CONNECT_TIMEOUT_S", 0.5)
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        servers = f"127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", servers)
        started = time.perf_counter()
        line = one_line_error(capsys, ["topics", "create"])
        assert time.perf_counter() - started < 5
    assert f"KAFKA_BOOTSTRAP_SERVERS={servers}: no Kafka broker answered (no answer in 0.5 s)" \
        in line


def test_simulate_into_a_closed_pipe_stops_quietly() -> None:
    with subprocess.Popen([sys.executable, "-m", "streams.cli", "simulate", "--sellers", "50"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141
    assert err == "", err


# ---------------------------------------------------------------- --help

def help_of(capsys: pytest.CaptureFixture[str], command: str) -> str:
    assert main([command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps where it likes


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", ["demo", "replay", "simulate", "backtest", "schemas"])
def test_help_shows_the_default_of_every_option(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    text = help_of(capsys, command).split(" options: ", 1)[1]
    parser = subparsers()[command]
    actions = [a for a in parser._actions if a.option_strings]
    formatter = parser._get_formatter()
    starts = [text.index(formatter._format_action_invocation(a)) for a in actions]
    assert starts == sorted(starts)
    checked = 0
    for action, start, end in zip(actions, starts, [*starts[1:], len(text)], strict=True):
        if action.nargs == 0 or action.required:
            continue
        described = text[start:end]
        checked += 1
        assert "(default: " in described, (action.option_strings, described)
        if action.default is not None and not callable(action.default):
            shown = {DEFAULT_START_MS: "2026-01-05"}.get(action.default, str(action.default))
            assert f"(default: {shown}" in described
    assert checked >= 1


def test_worker_help_lists_every_setting_with_its_default_and_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["worker", "--help"]) == 0
    text = capsys.readouterr().out
    defaults = Settings()
    for field in dataclasses.fields(Settings):
        var = f"SELLERPERF_{field.name.upper()}"
        line = next((x for x in text.splitlines() if var in x), None)
        assert line is not None, var
        value = str(getattr(defaults, field.name)) or "(empty)"
        assert f"(default: {value})" in line, line
        doc = settings_docs()[field.name]
        assert doc, f"Settings.{field.name} has no docstring"
        assert " ".join(doc.split()[:4]) in " ".join(text.split()), field.name
    assert "KAFKA_BOOTSTRAP_SERVERS" in text


def test_schemas_help_says_what_root_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--root ROOT the folder of the JSON Schemas" in help_of(capsys, "schemas")


def test_backtest_help_says_which_profile_is_current_and_which_proposed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of(capsys, "backtest")
    assert "--targets PROFILE the proposed profile" in text
    assert "--profile PROFILE the current profile" in text


def test_simulate_and_topics_help_point_at_the_kafka_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("simulate", "topics"):
        assert "see `sellerperf worker --help`" in help_of(capsys, command)


# ---------------------------------------------------------------- --start

NOW_MS = 1_780_000_000_123


@pytest.mark.parametrize(("text", "expected_ms"), [
    ("now", NOW_MS),
    ("now-7d", NOW_MS - 7 * DAY_MS),
    ("2026-01-05", DEFAULT_START_MS),
    ("2026-03-01", parse_time_ms("2026-03-01T00:00:00Z")),
    ("2026-03-01T12:00:00+02:00", parse_time_ms("2026-03-01T10:00:00Z")),
    ("2026-03-01T12:00:00.5Z", parse_time_ms("2026-03-01T12:00:00.500Z")),
])
def test_start_takes_now_a_number_of_days_ago_a_date_or_a_time(
    text: str, expected_ms: int
) -> None:
    assert parse_start(text, now_ms=lambda: NOW_MS) == expected_ms


@pytest.mark.parametrize("text", ["today", "now+1d", "now-d", "1969-12-31", "9999-01-01",
                                  "2026-13-01", "2026-03-01T12:00"])
def test_start_refuses_what_it_cannot_place(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(f"got '{text}'; expected")):
        parse_start(text, now_ms=lambda: NOW_MS)


def event_times(path: Path) -> list[int]:
    return [parse_time_ms(orjson.loads(line)["event_time"])
            for line in path.read_bytes().splitlines()]


def test_simulate_start_now_puts_the_calendar_at_the_wall_clock(tmp_path: Path) -> None:
    out = tmp_path / "now.ndjson"
    before = time.time_ns() // 1_000_000
    assert main(["simulate", "--sellers", "3", "--days", "2", "--start", "now",
                 "--out", str(out)]) == 0
    after = time.time_ns() // 1_000_000
    times = event_times(out)
    assert len(times) > 20
    assert before <= min(times) and max(times) < after + 2 * DAY_MS
    assert min(times) < after + DAY_MS // 2, "the first orders are placed on the first day"


def test_simulate_start_days_ago_ends_the_calendar_now(tmp_path: Path) -> None:
    out = tmp_path / "ago.ndjson"
    before = time.time_ns() // 1_000_000
    assert main(["simulate", "--sellers", "3", "--days", "3", "--start", "now-3d",
                 "--out", str(out)]) == 0
    times = event_times(out)
    assert before - 3 * DAY_MS <= min(times) and max(times) < time.time_ns() // 1_000_000


def test_simulate_start_date_moves_the_calendar_and_changes_nothing_else(tmp_path: Path) -> None:
    moved, fixed = tmp_path / "moved.ndjson", tmp_path / "fixed.ndjson"
    common = ["simulate", "--sellers", "4", "--days", "14", "--seed", "3"]
    # 2026-01-05 and 2026-03-02 are both Mondays, so the week's rhythm is the same.
    assert main([*common, "--start", "2026-03-02", "--out", str(moved)]) == 0
    assert main([*common, "--out", str(fixed)]) == 0
    shift = parse_time_ms("2026-03-02T00:00:00Z") - DEFAULT_START_MS
    assert event_times(moved) == [t + shift for t in event_times(fixed)]
    strip = [{k: v for k, v in orjson.loads(x).items() if not k.endswith(("_time", "_at"))}
             for x in fixed.read_bytes().splitlines()]
    assert strip == [{k: v for k, v in orjson.loads(x).items() if not k.endswith(("_time", "_at"))}
                     for x in moved.read_bytes().splitlines()]


def test_simulate_without_start_is_the_fixed_calendar(tmp_path: Path) -> None:
    default, explicit = tmp_path / "d.ndjson", tmp_path / "e.ndjson"
    assert main(["simulate", "--sellers", "3", "--days", "5", "--out", str(default)]) == 0
    assert main(["simulate", "--sellers", "3", "--days", "5", "--start", "2026-01-05",
                 "--out", str(explicit)]) == 0
    assert default.read_bytes() == explicit.read_bytes()
    assert min(event_times(default)) >= DEFAULT_START_MS


# ---------------------------------------------------------------- progress and the demo's words

def test_the_day_bar_passes_every_event_and_ends_at_the_last_day() -> None:
    config = SimulationConfig(seed=2, sellers=20, days=6)
    stream = io.StringIO()
    positions = []
    with tqdm(total=config.days, file=stream, disable=False, mininterval=0) as bar:
        events = []
        for event in by_day(generate(config), config, bar):
            events.append(event)
            positions.append(bar.n)
        assert bar.n == bar.total == 6
    assert events == list(generate(config))
    assert positions == sorted(positions) and 0 < len(set(positions)) <= 7
    assert positions[len(positions) // 2] in (2, 3, 4), "the bar moves with event time"
    assert "6/6" in stream.getvalue()


def test_simulate_says_one_line_on_stderr_when_it_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--sellers", "2", "--days", "3",
                 "--out", str(tmp_path / "e.ndjson")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\r" not in err and err.startswith("Wrote "), err


def test_demo_of_no_sellers_says_there_is_nothing_to_judge(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--sellers", "0"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == ("No sellers to simulate (--sellers 0), so nothing to judge: "
                               "try --sellers 120 (the default).")
    assert "()" not in out.out


def test_demo_of_a_few_sellers_says_none_were_planted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--sellers", "3", "--days", "10"]) == 0
    captured = capsys.readouterr()
    assert "Degrading sellers planted by the simulator: none" in captured.out
    assert "()" not in captured.out
    assert captured.err.count("\n") == 1, "only the 'Simulating ...' line: no bar off a terminal"


# ---------------------------------------------------------------- with a real broker

def kafka_servers() -> str:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if servers and reachable(servers):
        return servers
    if os.environ.get("SELLERPERF_REQUIRE_KAFKA") == "1":
        pytest.fail(f"no Kafka broker at {servers!r}; the Kafka tier must run here")
    pytest.skip("no Kafka broker (run deploy/kafka/start.sh and set KAFKA_BOOTSTRAP_SERVERS)")


def own_topics(monkeypatch: pytest.MonkeyPatch) -> str:
    """Point every topic setting at names of this test's own; the prefix."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    for field in dataclasses.fields(Settings):
        if field.name.startswith("topic_"):
            monkeypatch.setenv(f"SELLERPERF_{field.name.upper()}", f"{prefix}-{field.default}")
    return prefix


@pytest.mark.kafka
def test_topics_the_broker_refuses_are_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_servers())
    prefix = own_topics(monkeypatch)
    monkeypatch.setenv("SELLERPERF_REPLICATION_FACTOR", "3")  # one broker: cannot be
    line = one_line_error(capsys, ["topics", "create"])
    assert f"topic {prefix}-" in line and "not created" in line, line
    assert "SELLERPERF_REPLICATION_FACTOR=3" in line


@pytest.mark.kafka
def test_topics_create_makes_the_missing_ones_then_says_they_exist(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_servers())
    prefix = own_topics(monkeypatch)
    assert main(["topics", "create"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert len(first) == 7 and all(x.startswith(f"created {prefix}-") for x in first), first
    assert main(["topics", "create"]) == 0
    again = capsys.readouterr().out.splitlines()
    assert sorted(x.split()[1] for x in again) == sorted(x.split()[1] for x in first)
    assert all(x.startswith("exists") for x in again)


@pytest.mark.kafka
def test_simulate_to_kafka_produces_and_says_how_many(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_servers())
    own_topics(monkeypatch)
    assert main(["topics", "create"]) == 0
    config = SimulationConfig(sellers=3, days=2)
    assert main(["simulate", "--to", "kafka", "--sellers", "3", "--days", "2"]) == 0
    err = capsys.readouterr().err
    assert f"Produced {sum(1 for _ in generate(config)):,} events for 3 sellers" in err, err


@pytest.mark.parametrize("servers", ["", "127.0.0.1:notaport", "127.0.0.1:99999", "a b",
                                     "127.0.0.1:9092,"])
def test_bootstrap_servers_that_are_no_address_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], servers: str
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", servers)
    for argv in (["topics", "create"], ["simulate", "--to", "kafka", "--days", "1"]):
        line = one_line_error(capsys, argv)
        assert f"KAFKA_BOOTSTRAP_SERVERS: got {servers!r}; expected host:port" in line
