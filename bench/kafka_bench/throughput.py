"""The worker end to end on the backlog, against the raw consumer; a restart on its state."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition

from streams.core.partitioner import partition_for
from streams.kafka.client import create_topics, produce, topic_for
from streams.kafka.settings import Settings

from .harness import (
    OUTPUT_FIELDS,
    GroupWatcher,
    du_bytes,
    end_offsets,
    load,
    proc_cpu_s,
    proc_rss,
    topic_records,
)
from .profiling import start_py_spy, summarize_profile
from .worker import Worker, log_errors


def worker_backlog(inputs: Settings, app_id: str, store: str, tmp: Path, ends: dict[
        TopicPartition, int], *, timeout_s: float, profile: Path | None = None,
        profile_window: tuple[float, float] = (20.0, 60.0), batch_size: int | None = None,
        max_message_bytes: int = 0, restart: bool = False,
        evict: str | None = None) -> dict[str, Any]:
    """One worker from start until the group has committed every input offset (with
    `restart`, then another on the state it left: `restarted`).

    With `profile`, py-spy samples it for profile_window[1] seconds starting
    profile_window[0] seconds after its first commit, and the run ends with the sampling
    (its rate is then `events_per_s_partial`).
    """
    outputs: dict[str, Any] = {f: f"{app_id}-{getattr(Settings(), f)}" for f in OUTPUT_FIELDS}
    s = replace(inputs, app_id=app_id, **outputs)
    asyncio.run(create_topics(s))
    data = tmp / app_id
    worker = Worker(s, data, store=store, lateness_ms=60_000, batch_size=batch_size,
                    max_message_bytes=max_message_bytes, evict=evict)
    load_before = load()
    peak = [0]
    spies: list[subprocess.Popen[bytes]] = []

    first_commit: list[float] = []

    def on_poll(n: int) -> None:
        rss, _ = proc_rss(worker.pid)
        peak[0] = max(peak[0], rss)
        if n > 0 and not first_commit:
            first_commit.append(time.perf_counter())
        if (profile is not None and not spies and first_commit
                and time.perf_counter() - first_commit[0] >= profile_window[0]):
            spies.extend(start_py_spy(worker.pid, profile, profile_window[1]))

    def profiled() -> bool:
        return bool(spies) and all(spy.poll() is not None for spy in spies)

    worker.start()
    rss_start = 0
    try:
        rss_start = worker.wait_web()
        watcher = GroupWatcher(s.bootstrap_servers, app_id, ends)
        out = asyncio.run(watcher.watch(worker.started, timeout_s, worker.alive, on_poll,
                                        profiled if profile is not None else None))
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
        out["cpu_seconds"] = cpu = proc_cpu_s(worker.pid)
        out["events_per_cpu_s"] = out["committed"] / cpu if cpu else None
        time.sleep(1.5)  # the last table writes and commit
        rss, hwm = proc_rss(worker.pid)
        out.update({"store": store, "max_message_bytes": max_message_bytes or None,
                    "evict": evict or Settings().evict,
                    "rss_bytes": rss, "rss_peak_bytes": max(hwm, peak[0]),
                    "rss_at_start_bytes": rss_start, "data_dir_bytes": du_bytes(data),
                    "load_before": load_before, "load_after": load()})
        out["worker"] = worker.metrics()
        alerts = end_offsets(s, [s.topic_alerts])
        out["alerts_topic_records"] = sum(alerts.values())
        dead = end_offsets(s, [s.topic_dead_letters])
        out["dead_letter_records"] = sum(dead.values())
        out["metrics_topic_records"] = topic_records(s.bootstrap_servers, s.topic_metrics)
        out["changelog_records"] = topic_records(s.bootstrap_servers,
                                                 f"{app_id}-state-changelog")
        if not out["completed"]:
            out["error"] = f"not all committed ({out['committed']}/{out['events']})"
            out["log"] = str(worker.log_path)
            out["log_errors"] = log_errors(worker.log_path)
        elif restart:
            worker.stop()
            out["restarted"] = worker_restarted(s, data, store, timeout_s, evict)
    finally:
        worker.stop()
        for spy in spies:
            if spy.poll() is None:
                spy.kill()
    if profile is not None:
        out["profile"] = summarize_profile(profile.with_suffix(".txt"))
    shutil.rmtree(data, ignore_errors=True)
    return out


def worker_restarted(s: Settings, data: Path, store: str, timeout_s: float,
                     evict: str | None = None) -> dict[str, Any]:
    """A worker started again on the local state and changelog another left.

    A partition is restored when its first record comes, so once the worker has its
    partitions, one event per partition is sent, too late to count (dead-lettered; it
    changes no state): the time until the group commits them is the restore's, and the
    RSS then is what the restored state takes (the peak: what restoring took).
    """
    worker = Worker(s, data, store=store, lateness_ms=60_000, evict=evict)
    peak = [0]
    worker.start()
    try:
        rss_start = worker.wait_web()
        assigned_s = worker.wait_assigned(timeout_s=300)
        sellers: dict[int, str] = {}
        for i in range(1, 10_000):
            sellers.setdefault(partition_for(f"S{i:05d}", s.partitions), f"S{i:05d}")
            if len(sellers) == s.partitions:
                break
        late = [(topic_for("order_cancelled", s), sid.encode(), orjson.dumps({
            "event_id": f"restart-{sid}", "type": "order_cancelled",
            "event_time": "2020-01-01T00:00:00.000Z", "seller_id": sid,
            "order_id": "restart", "cancelled_by": "buyer", "reason": "other"}))
            for sid in sellers.values()]
        before = end_offsets(s, list(s.input_topics))
        sent_at = time.perf_counter()
        asyncio.run(produce(s, iter(late)))
        ends = end_offsets(s, list(s.input_topics))
        assert sum(ends.values()) - sum(before.values()) == len(late)

        def on_poll(n: int) -> None:
            peak[0] = max(peak[0], proc_rss(worker.pid)[0])

        watcher = GroupWatcher(s.bootstrap_servers, s.app_id, ends)
        out = asyncio.run(watcher.watch(sent_at, timeout_s, worker.alive, on_poll))
        restore_s = time.perf_counter() - sent_at
        time.sleep(1.5)
        rss, hwm = proc_rss(worker.pid)
        return {"completed": out["completed"], "assigned_after_s": assigned_s,
                "restore_s": restore_s, "rss_at_start_bytes": rss_start, "rss_bytes": rss,
                "rss_peak_bytes": max(hwm, peak[0]), "worker": worker.metrics(),
                "log": str(worker.log_path)}
    except RuntimeError as exc:
        return {"completed": False, "error": str(exc)[:2000], "log": str(worker.log_path)}
    finally:
        worker.stop()


def too_large(w: dict[str, Any]) -> bool:
    """Whether a worker run ended on a record over the producer's or broker's size limit."""
    return not w.get("completed") and any("MessageSizeTooLarge" in ln
                                          for ln in w.get("log_errors", []))


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Of repeated worker runs, the one with the median rate (the lower middle one of an
    even number), with every run's rates under `repeats`; a failed run is the result if
    any failed."""
    failed = [w for w in runs if not w.get("completed")]
    if failed or len(runs) == 1:
        return failed[0] if failed else runs[0]
    ordered = sorted(runs, key=lambda w: float(w["events_per_s"]))
    out = dict(ordered[(len(ordered) - 1) // 2])
    out["repeats"] = [{k: w.get(k) for k in ("events_per_s", "events_per_s_to_most",
                                             "events_per_cpu_s", "rss_bytes")} for w in runs]
    return out
