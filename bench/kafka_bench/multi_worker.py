"""Several worker processes of one consumer group on the backlog (Kafka scaling out)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from streams.kafka.client import create_topics
from streams.kafka.settings import Settings

from .harness import OUTPUT_FIELDS, GroupWatcher, du_bytes, load, proc_cpu_s, proc_rss
from .worker import Worker


def worker_group_backlog(inputs: Settings, app_id: str, store: str, tmp: Path, ends: dict[
        TopicPartition, int], *, processes: int, timeout_s: float,
        evict: str | None = None) -> dict[str, Any]:
    """`processes` workers of one consumer group (the partitions shared among them) from
    start until the group has committed every input offset."""
    outputs: dict[str, Any] = {f: f"{app_id}-{getattr(Settings(), f)}" for f in OUTPUT_FIELDS}
    s = replace(inputs, app_id=app_id, **outputs)
    asyncio.run(create_topics(s))
    dirs = [tmp / f"{app_id}-{i}" for i in range(processes)]  # logs go to <tmp-dir>/logs
    workers = [Worker(s, d, store=store, lateness_ms=60_000, evict=evict, name=d.name)
               for d in dirs]
    load_before = load()
    peak = [0]

    def on_poll(n: int) -> None:
        peak[0] = max(peak[0], sum(proc_rss(w.pid)[0] for w in workers))

    for w in workers:
        w.start()
    try:
        for w in workers:
            w.wait_web()
        watcher = GroupWatcher(s.bootstrap_servers, app_id, ends)
        out = asyncio.run(watcher.watch(min(w.started for w in workers), timeout_s,
                                        lambda: all(w.alive() for w in workers), on_poll))
        out["cpu_seconds"] = cpu = sum(proc_cpu_s(w.pid) for w in workers)
        out["events_per_cpu_s"] = out["committed"] / cpu if cpu else None
        time.sleep(1.5)
        out.update({"store": store, "processes": processes, "evict": evict or Settings().evict,
                    "rss_bytes": sum(proc_rss(w.pid)[0] for w in workers),
                    "rss_peak_bytes": peak[0], "data_dir_bytes": sum(map(du_bytes, dirs)),
                    "load_before": load_before, "load_after": load(),
                    "partitions_per_worker": [len(json.loads(w.get("/health")).get(
                        "partitions", [])) for w in workers]})
        if not out["completed"]:
            out["error"] = f"not all committed ({out['committed']}/{out['events']})"
            out["log"] = str(workers[0].log_path)
    finally:
        for w in workers:
            w.stop()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    return out
