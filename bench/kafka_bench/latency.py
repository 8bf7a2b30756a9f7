"""Alert latency at a steady live load whose event times track the wall clock."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from streams.kafka.client import create_topics

from .harness import load, proc_cpu_s, proc_rss, topic_set
from .livegen import LiveLoad, percentile
from .worker import Worker


def latency(bootstrap: str, prefix: str, tmp: Path, *, duration_s: float, rate: float,
            lateness_ms: int, sellers: int,
            burst_every_s: float) -> dict[str, Any]:
    """Steady live load with late-shipment bursts; deadline -> alert read."""
    app_id = f"{prefix}-lat"
    s = topic_set(bootstrap, app_id, app_id)
    asyncio.run(create_topics(s))
    worker = Worker(s, tmp / app_id, store="memory://", lateness_ms=lateness_ms)
    load_before = load()
    worker.start()
    try:
        ready_s = worker.wait_assigned()
        gen = LiveLoad(s, sellers=sellers, rate=rate, burst_every_s=burst_every_s)
        cpu0 = proc_cpu_s(worker.pid)
        result = asyncio.run(gen.run(duration_s, s.topic_alerts))
        cpu = proc_cpu_s(worker.pid) - cpu0
        warmup_s = min(3.0, duration_s / 4)
        lat = result.latencies_ms(warmup_s)
        counted = [b for b in result.bursts
                   if b.started_ms >= result.bursts[0].started_ms + warmup_s * 1000]
        send_lat = [b.alert_read_ms - b.late_sent_ms for b in counted
                    if b.alert_read_ms is not None and b.late_sent_ms is not None]
        rss, hwm = proc_rss(worker.pid)
        metrics = worker.metrics()
        return {
            "offered_events_per_s": rate,
            "sent_events_per_s": result.sent / result.seconds,
            "seconds": result.seconds,
            "allowed_lateness_ms": lateness_ms,
            "store": "memory://",
            "bursts": len(counted),
            "alerted": len(lat),
            "missed": len(counted) - len(lat),
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "max_ms": float(max(lat)) if lat else None,
            "min_ms": float(min(lat)) if lat else None,
            "from_send_p50_ms": percentile(send_lat, 50),
            "from_send_p99_ms": percentile(send_lat, 99),
            "worker_ready_s": ready_s,
            "worker_cpu_fraction": cpu / result.seconds,
            "worker_batch_busy_fraction": metrics.get("batch_seconds_sum", 0) / result.seconds,
            "worker_mean_batch_records": metrics.get("batch_records_sum", 0) / max(
                1, metrics.get("batches", 0)),
            "samples_ms": [(b.started_ms - counted[0].started_ms if counted else 0,
                            None if b.alert_read_ms is None else b.alert_read_ms - b.deadline_ms)
                           for b in counted],
            "other_alerts": result.other_alerts,
            "worker": metrics,
            "rss_bytes": rss, "rss_peak_bytes": hwm,
            "load_before": load_before, "load_after": load(),
        }
    finally:
        worker.stop()
        shutil.rmtree(tmp / app_id, ignore_errors=True)
