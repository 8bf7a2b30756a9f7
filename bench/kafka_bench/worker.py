"""A `sellerperf worker` subprocess configured through SELLERPERF_* variables."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson

from streams.kafka.settings import Settings

from .harness import (
    INPUT_FIELDS,
    OUTPUT_FIELDS,
    ROOT,
    create_changelog,
    free_port,
    proc_rss,
    stop_process,
)


class Worker:
    """A `sellerperf worker` subprocess configured through SELLERPERF_* variables."""

    def __init__(self, s: Settings, data_dir: Path, *, store: str, lateness_ms: int,
                 batch_size: int | None = None,
                 max_message_bytes: int = 0, evict: str | None = None,
                 name: str | None = None) -> None:
        self.settings = s
        self.data_dir = data_dir
        self.port = free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers,
            "SELLERPERF_APP_ID": s.app_id,
            "SELLERPERF_PARTITIONS": str(s.partitions),
            "SELLERPERF_STORE": store,
            "SELLERPERF_STANDBY_REPLICAS": "0",
            "SELLERPERF_DATA_DIR": str(data_dir),
            "SELLERPERF_WEB_PORT": str(self.port),
            "SELLERPERF_ALLOWED_LATENESS_MS": str(lateness_ms),
            "SELLERPERF_LOG_LEVEL": "info",
        })
        if batch_size is not None:
            env["SELLERPERF_BATCH_SIZE"] = str(batch_size)
        if evict is not None:
            env["SELLERPERF_EVICT"] = evict
        for f in INPUT_FIELDS + OUTPUT_FIELDS:
            env[f"SELLERPERF_{f.upper()}"] = getattr(s, f)
        if max_message_bytes:
            # Not a SELLERPERF_ setting: Faust reads it from the environment. The table's
            # changelog topic is made beforehand with a matching max.message.bytes.
            env["PRODUCER_MAX_REQUEST_SIZE"] = str(max_message_bytes)
            asyncio.run(create_changelog(s, max_message_bytes))
        self.env = env
        logs = data_dir.parent.parent / "logs"  # <tmp-dir>/logs survives the run
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"{name or s.app_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT, env=self.env,
                stdout=out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, path: str, timeout: float = 10) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                    timeout=timeout) as r:
            return bytes(r.read())

    def wait_web(self, timeout_s: float = 60) -> int:
        """Until the web server answers (imports done, about to consume); its RSS then."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.alive():
            try:
                self.get("/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        return proc_rss(self.pid)[0]

    def wait_assigned(self, timeout_s: float = 90) -> float:
        """Until /health shows all input partitions assigned; seconds since start."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited:\n{self.tail()}")
            try:
                health = orjson.loads(self.get("/health", timeout=2))
                if len(health.get("partitions", [])) == self.settings.partitions:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"worker not assigned within {timeout_s} s:\n{self.tail()}")

    def metrics(self) -> dict[str, float]:
        """Selected Prometheus gauges and counters from /metrics."""
        try:
            text = self.get("/metrics", timeout=60).decode()
        except OSError:
            return {}
        out: dict[str, float] = {}
        sellers = 0.0
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            try:
                v = float(value)
            except ValueError:
                continue
            if name.startswith("sellerperf_sellers{") and 'metric="cancel_rate_7d"' in name:
                sellers += v
            elif name == "sellerperf_open_objects":
                out["open_objects"] = v
            elif name == "sellerperf_open_objects_in_memory":
                out["open_objects_in_memory"] = v
            elif name.startswith("sellerperf_events_consumed_total{"):
                out["events_consumed"] = out.get("events_consumed", 0) + v
            elif name.startswith("sellerperf_invalid_events_total{"):
                out["invalid"] = out.get("invalid", 0) + v
            elif name == "sellerperf_too_late_events_total":
                out["too_late"] = v
            elif name.startswith("sellerperf_alerts_emitted_total{"):
                out["alerts"] = out.get("alerts", 0) + v
            elif name == "sellerperf_batch_size_events_sum":
                out["batch_records_sum"] = v
            elif name == "sellerperf_batch_size_events_count":
                out["batches"] = v
            elif name == "sellerperf_batch_processing_seconds_sum":
                out["batch_seconds_sum"] = v
            elif name.startswith("sellerperf_batch_stage_seconds_total{"):
                out[name.split('"')[1] + "_seconds"] = v
        out["sellers"] = sellers
        return out

    def stop(self) -> None:
        """Measurements are taken: a short grace, then SIGKILL (its group is deleted after)."""
        if self.proc is not None:
            stop_process(self.proc, timeout=5)

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def log_errors(path: Path, limit: int = 3) -> list[str]:
    """The first ERROR/CRITICAL lines of a worker log."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [ln[:400] for ln in lines if "[ERROR]" in ln or "[CRITICAL]" in ln][:limit]
