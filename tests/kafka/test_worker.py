"""The worker on a real broker gives what the offline replay gives."""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from conftest import WorkerProcess, start_worker
from kafka_helpers import (
    Background,
    progress,
    read_all,
    records_of,
    send,
    settled_snapshots,
    wait_until_done,
    without_as_of,
)

from streams.core.targets import load_profile
from streams.kafka.settings import Settings
from streams.offline.replay import replay_lines
from streams.offline.simulate import SimulationConfig, iter_ndjson

pytestmark = pytest.mark.kafka
SKIPPED = "sellerperf_input_offsets_skipped_total"
"""Input offsets a worker never got: none here (no transactions, no compaction)."""

LINES = [line.rstrip(b"\n") for line in iter_ndjson(SimulationConfig(
    seed=21, sellers=16, days=40, orders_per_seller_day=10.0, degrading_fraction=0.25))]


def offline(lines: list[bytes], settings: Settings) -> tuple[list[dict[str, Any]],
                                                             dict[str, dict[str, Any]]]:
    """Alerts and final snapshots of `sellerperf replay` with the topics' partitions (the
    worker applies what the lateness holds back once its inputs are idle, as replay does at
    the end of the file)."""
    result = replay_lines(enumerate(lines, 1), load_profile(settings.target_profile),
                          settings.allowed_lateness_ms, settings.partitions, flush=True)
    alerts = [msgspec.to_builtins(a) for a in result.alerts]
    snaps = {s.seller_id: msgspec.to_builtins(s) for s in result.snapshots()}
    return alerts, snaps


def streamed_alerts(settings: Settings) -> list[dict[str, Any]]:
    return [orjson.loads(v) for _, v in read_all(settings, settings.topic_alerts)]


def explain(got: dict[str, list[dict[str, Any]]], want: dict[str, list[dict[str, Any]]]) -> str:
    """Where two per-seller alert sequences first part, for a failure message."""
    lines = []
    for seller in sorted(set(got) | set(want)):
        a, b = got.get(seller, []), want.get(seller, [])
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else None
            y = b[i] if i < len(b) else None
            if x != y:
                short = ("metric", "previous_status", "status", "as_of", "numerator",
                         "denominator")
                lines.append(f"{seller} #{i}: streamed {x and {k: x[k] for k in short}} "
                             f"offline {y and {k: y[k] for k in short}}")
                break
    return "\n".join(lines)


def rate_diff(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> str:
    """Rates whose counts differ between two sets of snapshots, for a failure message."""
    lines = []
    for seller in sorted(set(got) | set(want)):
        a, b = ({r["metric"]: (r["numerator"], r["denominator"])
                 for r in side.get(seller, {}).get("rates", [])} for side in (got, want))
        lines += [f"{seller} {m}: streamed {a.get(m)} offline {b.get(m)}"
                  for m in sorted(set(a) | set(b)) if a.get(m) != b.get(m)]
    return "\n".join(lines[:40])


def by_seller(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per seller, its alerts in order, repeated ids (redelivery after a crash) kept once."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: dict[str, dict[str, Any]] = {}
    for a in alerts:
        if a["alert_id"] in seen:
            assert seen[a["alert_id"]] == a, "a repeated alert id must carry the same content"
            continue
        seen[a["alert_id"]] = a
        out[a["seller_id"]].append(a)
    return dict(out)


def view_all(worker: WorkerProcess, sellers: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for seller in sellers:
        status, body = worker.get(f"/sellers/{seller}")
        assert status == 200, (seller, status, body[:300])
        out[seller] = orjson.loads(body)
    return out


def test_streaming_through_kafka_gives_the_alerts_and_rates_of_the_offline_replay(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    expected_alerts, expected_snaps = offline(LINES, settings)
    assert len(expected_alerts) >= 10, "the log must raise alerts for this test to mean much"
    send(settings, records_of(LINES, settings))
    worker = start_worker(settings, tmp_path, workers)
    wait_until_done(settings)
    streamed = streamed_alerts(settings)
    repeated = len(streamed) - len({a["alert_id"] for a in streamed})
    assert repeated == 0, f"{repeated} alerts published twice with no crash"
    got, want = by_seller(streamed), by_seller(expected_alerts)
    assert got == want, explain(got, want)
    assert view_all(worker, sorted(expected_snaps)) == expected_snaps
    published = settled_snapshots(settings, expected_snaps)
    assert published == without_as_of(expected_snaps), rate_diff(published, expected_snaps)
    assert worker.metric(SKIPPED) == 0
    status, body = worker.get("/sellers/NOBODY")
    assert status == 404, body
    status, body = worker.get("/sellers/bad%20id")
    assert status == 400, body
    assert b"malformed seller id" in body


BAD = [
    (b"S00001", b"{not json", "not_json"),
    (b"S00001", b'{"event_id":"x1","type":"order_placed","event_time":"2026-01-05T00:00:00Z",'
                b'"seller_id":"S00001","order_id":"o","marketplace":"US","channel":"seller",'
                b'"expected_ship_at":"2026-01-06T00:00:00Z",'
                b'"promised_delivery_at":"2026-01-09T00:00:00Z","units":"three"}', "schema"),
    (b"S00001", b'{"event_id":"x2","type":"order_teleported","event_time":'
                b'"2026-01-05T00:00:00Z","seller_id":"S00001"}', "unknown_type"),
    (None, b'{"event_id":"x3","type":"delivered","event_time":"2026-01-05T00:00:00Z",'
           b'"seller_id":"S00001","order_id":"o"}', "missing_key"),
    (b"S00002", b'{"event_id":"x4","type":"delivered","event_time":"2026-01-05T00:00:00Z",'
                b'"seller_id":"S00001","order_id":"o"}', "key_mismatch"),
]


def test_bad_input_goes_to_the_dead_letter_topic_and_the_rest_is_counted(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    good = LINES[:4000]
    records = records_of(good, settings)
    for i, (key, value, _) in enumerate(BAD):
        records.insert(500 + 700 * i, (settings.topic_orders, key, value))  # type: ignore[arg-type]
    send(settings, records)  # type: ignore[arg-type]
    worker = start_worker(settings, tmp_path, workers)
    wait_until_done(settings)
    dead = [orjson.loads(v) for _, v in read_all(settings, settings.topic_dead_letters)]
    assert sorted(d["reason"] for d in dead) == sorted(r for _, _, r in BAD)
    for d in dead:
        assert d["source"] == settings.topic_orders
        assert d["offset"] is not None and d["partition"] is not None
        assert d["error"]
    schema_error = next(d for d in dead if d["reason"] == "schema")
    assert schema_error["field"] == "units" and '"three"' in schema_error["error"]
    _, expected_snaps = offline(good, settings)
    assert view_all(worker, sorted(expected_snaps)) == expected_snaps


# Each consume mode once, with a different choice of what leaves memory for the store.
@pytest.mark.parametrize(("consume", "evict"), [("fetch", "all"), ("stream", "settled")])
def test_a_worker_killed_mid_stream_recovers_without_loss_or_double_count(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path, consume: str, evict: str
) -> None:
    expected_alerts, expected_snaps = offline(LINES, settings)
    records = records_of(LINES, settings)
    worker = start_worker(settings, tmp_path, workers, store="rocksdb://", consume=consume,
                          evict=evict)
    third = len(records) // 3
    send(settings, records[:third])
    deadline = time.monotonic() + 60
    while progress(settings)[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert progress(settings)[0] > 0, worker.tail()
    # The second third on its way while the worker is killed: batches in flight.
    sending = Background(settings, records[third : 2 * third], rate_per_s=4000)
    time.sleep(1.0)
    taken_before = worker.taken()
    assert sending.running(), "the kill must land while records are still being sent"
    worker.kill(signal.SIGKILL)
    sending.join()
    done, sent = progress(settings)
    assert sent == 2 * third
    assert 0 < done < sent, f"the kill should land mid-stream: {done} of {sent} committed"
    # Some records the dead worker took were not committed: the restart must take them
    # again (re-taken if held back, skipped if applied), or the kill tested nothing.
    assert taken_before > done, (taken_before, done)
    send(settings, records[2 * third :])
    again = start_worker(settings, tmp_path, workers, store="rocksdb://", consume=consume,
                         evict=evict)
    try:
        wait_until_done(settings)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; worker: {again.get('/health')[1][:1500]!r}") from None
    # It took every record from the committed offsets on, once (those the dead worker had
    # applied are skipped, those it held back re-taken).
    assert again.taken() == len(records) - done, again.tail()
    dead = [orjson.loads(v) for _, v in read_all(settings, settings.topic_dead_letters)]
    assert not dead, f"{len(dead)} dead letters, e.g. {dead[:2]}"
    assert again.metric(SKIPPED) == 0, again.tail()
    got, want = by_seller(streamed_alerts(settings)), by_seller(expected_alerts)
    views = view_all(again, sorted(expected_snaps))
    assert got == want, f"{explain(got, want)}\n{rate_diff(views, expected_snaps)}"
    assert views == expected_snaps, rate_diff(views, expected_snaps)
    published = settled_snapshots(settings, expected_snaps)
    assert published == without_as_of(expected_snaps), rate_diff(published, expected_snaps)


@pytest.mark.parametrize(("consume", "evict"), [("fetch", "settled"), ("stream", "all")])
def test_two_workers_split_the_partitions_and_one_takes_over_when_the_other_stops(
    settings: Settings, workers: list[WorkerProcess], tmp_path: Path, consume: str, evict: str
) -> None:
    expected_alerts, expected_snaps = offline(LINES, settings)
    records = records_of(LINES, settings)
    first = start_worker(settings, tmp_path, workers, "w1", consume=consume, evict=evict)
    second = start_worker(settings, tmp_path, workers, "w2", consume=consume, evict=evict)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        held = [orjson.loads(w.get("/health")[1])["partitions"] for w in (first, second)]
        if all(held) and sorted(held[0] + held[1]) == list(range(settings.partitions)):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"partitions not split: {held}\n{first.tail()}\n{second.tail()}")
    half = len(records) // 2
    send(settings, records[:half])
    wait_until_done(settings)
    sellers = sorted(expected_snaps)
    assert view_all(first, sellers) == view_all(second, sellers), "either worker answers alike"
    # Hand over under load: the second half on its way, batches in flight on both workers.
    sending = Background(settings, records[half:], rate_per_s=4000)
    time.sleep(1.5)
    assert sending.running(), "the hand-over must happen while records are being sent"
    moved = progress(settings)[0]
    second.kill(signal.SIGTERM)
    sending.join()
    assert moved > half, "the workers should have been taking the second half"
    wait_until_done(settings)
    assert orjson.loads(first.get("/health")[1])["partitions"] == list(range(settings.partitions))
    dead = [orjson.loads(v) for _, v in read_all(settings, settings.topic_dead_letters)]
    assert not dead, f"{len(dead)} dead letters, e.g. {dead[:2]}"
    assert first.metric(SKIPPED) == 0, first.tail()
    got, want = by_seller(streamed_alerts(settings)), by_seller(expected_alerts)
    views = view_all(first, sellers)
    assert got == want, f"{explain(got, want)}\n{rate_diff(views, expected_snaps)}"
    assert views == expected_snaps, rate_diff(views, expected_snaps)
    published = settled_snapshots(settings, expected_snaps)
    assert published == without_as_of(expected_snaps), rate_diff(published, expected_snaps)
