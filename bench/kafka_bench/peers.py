"""Peers: a Quix Streams application on the same backlog, timed as the worker is."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from streams.kafka.settings import Settings

from .harness import (
    ROOT,
    GroupWatcher,
    du_bytes,
    end_offsets,
    load,
    proc_cpu_s,
    proc_rss,
    stop_process,
    topic_records,
)

DEFAULT_QUIX_PYTHON = "/tmp/quixvenv/bin/python"


def quix(python: str, inputs: Settings, prefix: str, tmp: Path, *, timeout_s: float) -> dict[
        str, Any]:
    """bench/quix_late_shipment.py over the orders and shipments topics, timed like the worker."""
    if not Path(python).exists():
        return {"skipped": f"{python} not found; python3 -m venv /tmp/quixvenv && "
                           f"/tmp/quixvenv/bin/pip install quixstreams"}
    check = subprocess.run([python, "-c", "import quixstreams; print(quixstreams.__version__)"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        return {"skipped": f"quixstreams does not import in {python}: {check.stderr[-400:]}"}
    group = f"{prefix}-quix"
    state_dir = tmp / group
    state_dir.mkdir(parents=True, exist_ok=True)
    topics = [inputs.topic_orders, inputs.topic_shipments]
    ends = end_offsets(inputs, topics)
    logf = tmp.parent / "logs" / f"{group}.log"
    logf.parent.mkdir(parents=True, exist_ok=True)
    cmd = [python, str(ROOT / "bench/kafka_bench/quix_late_shipment.py"),
           "--bootstrap", inputs.bootstrap_servers, "--orders", inputs.topic_orders,
           "--shipments", inputs.topic_shipments, "--output", f"{group}-late-shipments",
           "--group", group, "--state-dir", str(state_dir / "state")]
    load_before = load()
    started = time.perf_counter()
    with logf.open("ab") as out_f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out_f, stderr=subprocess.STDOUT)
    peak = [0]

    def on_poll(_: int) -> None:
        peak[0] = max(peak[0], proc_rss(proc.pid)[0])

    try:
        watcher = GroupWatcher(inputs.bootstrap_servers, group, ends)
        out = asyncio.run(watcher.watch(started, timeout_s, lambda: proc.poll() is None,
                                        on_poll))
        out["cpu_seconds"] = cpu = proc_cpu_s(proc.pid)
        out["events_per_cpu_s"] = out["events"] / cpu if cpu else None
        rss, hwm = proc_rss(proc.pid)
        out.update({"version": check.stdout.strip(), "topics": ["orders", "shipments"],
                    "rss_bytes": rss, "rss_peak_bytes": max(hwm, peak[0]),
                    "state_dir_bytes": du_bytes(state_dir / "state"),
                    "load_before": load_before, "load_after": load(),
                    "command": " ".join(cmd)})
        out["output_records"] = topic_records(inputs.bootstrap_servers,
                                              f"{group}-late-shipments")
        if not out["completed"]:
            out["error"] = logf.read_text(errors="replace")[-1500:]
    finally:
        stop_process(proc, timeout=10)
        shutil.rmtree(state_dir, ignore_errors=True)
    return out
