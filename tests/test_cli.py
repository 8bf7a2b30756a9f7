"""The offline drivers: replay with bad input, demo, simulate and backtest, as a user runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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
    line = one_line_error(capsys, ["replay", str(bad), "--alerts", str(tmp_path / "a.ndjson")])
    assert f"{bad}: none of its 2 lines is a valid event (line 1: not valid JSON" in line
    assert "expected NDJSON" in line


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
