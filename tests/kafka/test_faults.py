"""The worker on a real broker under faults: oversized and undecodable input, a failure at
each stage of a batch, a restart with no new input, a wiped broker, a broker outage."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pytest
from conftest import ROOT, WorkerProcess, free_port, start_worker
from kafka_helpers import progress, read_all, records_of, send, wait_until_done
from test_worker import (
    LINES,
    SKIPPED,
    by_seller,
    explain,
    offline,
    rate_diff,
    streamed_alerts,
    view_all,
)

from streams.kafka.client import create_topics
from streams.kafka.settings import Settings

pytestmark = pytest.mark.kafka
EXIT_BATCH_FAILED = 70


def dead_letters(settings: Settings) -> list[dict[str, object]]:
    return [orjson.loads(v) for _, v in read_all(settings, settings.topic_dead_letters)]


def test_an_oversized_or_undecodable_record_becomes_a_dead_letter_that_fits_the_topic(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    good = LINES[:4000]
    huge = b"{" + b"x" * 900_000  # not JSON; base64 of it alone is ~1.2 MB
    binary = bytes(range(256)) * 4  # not UTF-8
    long_key = b"K" * 300_000
    mismatch = (b'{"event_id":"x4","type":"delivered","event_time":"2026-01-05T00:00:00Z",'
                b'"seller_id":"S00001","order_id":"o"}')
    records = records_of(good, settings)
    for i, (key, value) in enumerate([(b"S00001", huge), (b"S00002", binary),
                                      (long_key, mismatch)]):
        records.insert(500 + 1000 * i, (settings.topic_orders, key, value))
    send(settings, records)  # type: ignore[arg-type]
    worker = start_worker(settings, tmp_path, workers)
    wait_until_done(settings)
    assert worker.proc.poll() is None, worker.tail()
    dead = {d["offset"]: d for d in dead_letters(settings)}
    assert len(dead) == 3, list(dead.values())
    by_size = {d["original_size_bytes"]: d for d in dead.values()}
    big = by_size[len(huge)]
    kept = base64.b64decode(big["value_base64"])  # type: ignore[arg-type]
    assert big["reason"] == "not_json" and big["payload"] == "truncated"
    assert len(kept) == 256 * 1024 // 3 * 3 and huge.startswith(kept)
    assert big["original_sha256"] == hashlib.sha256(huge).hexdigest()
    undecodable = by_size[len(binary)]
    assert undecodable["payload"] == "full"
    assert base64.b64decode(undecodable["value_base64"]) == binary  # type: ignore[arg-type]
    keyed = by_size[len(mismatch)]
    assert keyed["reason"] == "key_mismatch" and keyed["key_truncated"] is True
    assert len(keyed["key"]) == 1024 and len(keyed["error"]) < 3000  # type: ignore[arg-type]
    assert worker.metric(SKIPPED) == 0
    _, expected_snaps = offline(good, settings)
    views = view_all(worker, sorted(expected_snaps))
    assert views == expected_snaps, rate_diff(views, expected_snaps)


@pytest.mark.parametrize("stage", ["compute", "publish", "state", "ack"])
def test_a_failure_at_any_stage_of_a_batch_stops_the_worker_and_a_restart_loses_nothing(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path, stage: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    expected_alerts, expected_snaps = offline(LINES, settings)
    records = records_of(LINES, settings)
    monkeypatch.setenv("SELLERPERF_FAIL_AT", f"{stage}:4")
    failing = start_worker(settings, tmp_path, workers, store="rocksdb://")
    monkeypatch.delenv("SELLERPERF_FAIL_AT")
    send(settings, records[: len(records) // 2])
    try:
        failing.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker did not fail at {stage}:\n{failing.tail()}")
    assert failing.proc.returncode == EXIT_BATCH_FAILED, failing.tail()
    log = failing.log.read_text(errors="replace")
    assert log.count("to restart from the committed state") == 1, failing.tail()
    assert f"SELLERPERF_FAIL_AT={stage}:4" in log
    done, end = progress(settings)
    assert done < end, "the failure must leave records to take again"
    send(settings, records[len(records) // 2 :])
    again = start_worker(settings, tmp_path, workers, store="rocksdb://")
    wait_until_done(settings)
    assert not dead_letters(settings)
    assert again.metric(SKIPPED) == 0, again.tail()
    streamed = streamed_alerts(settings)
    got, want = by_seller(streamed), by_seller(expected_alerts)
    views = view_all(again, sorted(expected_snaps))
    assert got == want, f"{explain(got, want)}\n{rate_diff(views, expected_snaps)}"
    assert views == expected_snaps, rate_diff(views, expected_snaps)
    print(f"{stage}: {len(streamed)} alert records, {len(streamed) - len(expected_alerts)} "
          f"repeated ids (same content)")


def test_a_restarted_worker_answers_for_its_sellers_before_any_new_input(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    _, expected_snaps = offline(LINES, settings)
    send(settings, records_of(LINES, settings))
    first = start_worker(settings, tmp_path, workers, store="rocksdb://")
    wait_until_done(settings)
    first.kill()
    again = start_worker(settings, tmp_path, workers, store="rocksdb://")
    sellers = sorted(expected_snaps)
    deadline = time.monotonic() + 60
    while again.get(f"/sellers/{sellers[0]}")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    views = view_all(again, sellers)
    assert views == expected_snaps, rate_diff(views, expected_snaps)
    active = orjson.loads(again.get("/health")[1])["active"]
    assert sorted(active) == [str(p) for p in range(settings.partitions)]


@dataclass
class Broker:
    """A broker of the test's own (it is stopped and wiped under a worker)."""

    env: dict[str, str]
    bootstrap: str

    def start(self) -> None:
        subprocess.run([str(ROOT / "deploy/kafka/start.sh")], env=self.env, check=True,
                       capture_output=True, timeout=180)

    def stop(self, wipe: bool = False) -> None:
        subprocess.run([str(ROOT / "deploy/kafka/stop.sh"), *(["--wipe"] if wipe else [])],
                       env=self.env, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, bootstrap: str) -> Iterator[Broker]:
    """A broker only this module's tests use: the session's is shared by the others."""
    port, controller = free_port(), free_port()
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(controller),
           "KAFKA_DATA_DIR": str(tmp_path_factory.mktemp("kafka") / "data")}
    own = Broker(env, f"127.0.0.1:{port}")
    own.start()
    try:
        yield own
    finally:
        own.stop(wipe=True)


def own_settings(settings: Settings, broker: Broker) -> Settings:
    s = replace(settings, bootstrap_servers=broker.bootstrap)
    asyncio.run(create_topics(s))
    return s


def test_a_wiped_broker_under_kept_local_state_is_warned_of_once_and_rebuilt(
    settings: Settings, broker: Broker, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    s = own_settings(settings, broker)
    records = records_of(LINES, s)
    half = len(records) // 2
    send(s, records[:half])
    first = start_worker(s, tmp_path, workers, store="rocksdb://")
    wait_until_done(s)
    first.kill()
    broker.stop(wipe=True)
    broker.start()
    asyncio.run(create_topics(s))
    second_half = LINES[half:]  # records_of keeps the lines' order
    send(s, records_of(second_half, s))
    again = start_worker(s, tmp_path, workers, store="rocksdb://")  # the same data dir
    wait_until_done(s)
    time.sleep(3)  # a crash loop would show by now
    assert again.proc.poll() is None, again.tail()
    log = again.log.read_text(errors="replace")
    assert log.count("Local state is ahead") == 1, again.tail()
    assert "ConsistencyError" not in log
    # What is left is the new broker's history only: the events sent after the wipe.
    expected_alerts, expected_snaps = offline(second_half, s)
    got, want = by_seller(streamed_alerts(s)), by_seller(expected_alerts)
    views = view_all(again, sorted(expected_snaps))
    assert got == want, f"{explain(got, want)}\n{rate_diff(views, expected_snaps)}"
    assert views == expected_snaps, rate_diff(views, expected_snaps)


def test_a_broker_outage_logs_one_warning_at_each_end_and_loses_nothing(
    settings: Settings, broker: Broker, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    s = own_settings(settings, broker)
    expected_alerts, expected_snaps = offline(LINES, s)
    records = records_of(LINES, s)
    half = len(records) // 2
    worker = start_worker(s, tmp_path, workers, store="rocksdb://")
    send(s, records[:half])
    wait_until_done(s)
    before = len(worker.log.read_text(errors="replace").splitlines())
    broker.stop()
    time.sleep(25)
    broker.start()
    send(s, records[half:])
    wait_until_done(s)
    deadline = time.monotonic() + 30
    while worker.metric("sellerperf_broker_outages_total") < 1 and time.monotonic() < deadline:
        time.sleep(1)
    lines = worker.log.read_text(errors="replace").splitlines()[before:]
    errors = [line for line in lines if "[ERROR]" in line]
    assert len(errors) <= 5, "\n".join(errors[:20])
    assert sum("Kafka broker unreachable" in line for line in lines) == 1, "\n".join(lines)
    back = [line for line in lines if "Kafka broker reachable again after" in line]
    assert len(back) == 1, "\n".join(lines)
    assert not any("is overlapping" in line for line in lines), "\n".join(lines)
    took = float(back[0].split("outage of ")[1].split(" s")[0])
    assert 25 <= took <= 120, back[0]
    assert worker.metric("sellerperf_broker_outages_total") == 1
    assert worker.metric("sellerperf_broker_outage_seconds_total") == pytest.approx(took, abs=0.2)
    assert worker.metric("sellerperf_broker_outage_ongoing_seconds") == 0
    assert worker.proc.poll() is None
    got, want = by_seller(streamed_alerts(s)), by_seller(expected_alerts)
    views = view_all(worker, sorted(expected_snaps))
    assert got == want, f"{explain(got, want)}\n{rate_diff(views, expected_snaps)}"
    assert views == expected_snaps, rate_diff(views, expected_snaps)
    print(f"outage: {len(lines)} log lines, {len(errors)} ERROR, reported {took} s")
