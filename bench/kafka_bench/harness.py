"""What every Kafka measure shares: broker, topics, group offsets, processes, tables."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.kafka.client import reachable
from streams.kafka.settings import Settings

ROOT: Final = Path(__file__).resolve().parents[2]
OUTPUT_FIELDS: Final = ("topic_alerts", "topic_metrics", "topic_dead_letters")
INPUT_FIELDS: Final = ("topic_orders", "topic_shipments", "topic_messages", "topic_refunds")

def log(msg: str) -> None:
    """Progress on stderr (stdout is the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def git_state() -> dict[str, Any]:
    """The commit and the uncommitted files under streams/ (the code the workers run)."""
    def git(*a: str) -> str:
        done = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""
    return {"head": git("rev-parse", "--short", "HEAD").strip(),
            "streams_uncommitted": [ln[3:] for ln in git("status", "--porcelain", "--",
                                                           "streams").splitlines() if ln]}


def load() -> list[float]:
    """1, 5 and 15 minute load averages (what `uptime` shows)."""
    return [round(x, 2) for x in os.getloadavg()]


# -- broker and topics -------------------------------------------------------------------------


def ensure_broker(servers: str) -> None:
    """Start the local broker when the default address does not answer."""
    if reachable(servers):
        return
    if servers != "127.0.0.1:9092":
        raise SystemExit(f"no Kafka broker at {servers}")
    log("no broker at 127.0.0.1:9092: running deploy/kafka/start.sh")
    subprocess.run([str(ROOT / "deploy/kafka/start.sh")], check=True, stdout=subprocess.DEVNULL)


def topic_set(bootstrap: str, inputs: str, app_id: str, **extra: Any) -> Settings:
    """Settings with input topics `<inputs>-orders`... and outputs `<app_id>-seller-alerts`..."""
    base = Settings(bootstrap_servers=bootstrap, partitions=4, standby_replicas=0)
    names: dict[str, Any] = {f: f"{inputs}-{getattr(base, f)}" for f in INPUT_FIELDS}
    names.update({f: f"{app_id}-{getattr(base, f)}" for f in OUTPUT_FIELDS})
    return replace(base, app_id=app_id, **names, **extra)


async def _end_offsets(bootstrap: str, topics: list[str], partitions: int) -> dict[
        TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


def end_offsets(s: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    """End offset of every partition of the topics."""
    return asyncio.run(_end_offsets(s.bootstrap_servers, topics, s.partitions))


async def create_changelog(s: Settings, max_message_bytes: int) -> None:
    """The worker table's changelog topic as Faust would make it, allowing bigger records."""
    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(
            f"{s.app_id}-state-changelog", s.partitions, s.replication_factor,
            topic_configs={"cleanup.policy": "compact",
                           "max.message.bytes": str(max_message_bytes)})])
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if prefix in t]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


async def _topic_records(bootstrap: str, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        parts = [int(x["partition"]) for d in described for x in d.get("partitions", [])]
    finally:
        await admin.close()
    if not parts:
        return None
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


def topic_records(bootstrap: str, topic: str) -> int | None:
    """Records in a topic (end offsets summed), None when it cannot be read."""
    try:
        return asyncio.run(_topic_records(bootstrap, topic))
    except Exception:
        return None


# -- consumer group offsets --------------------------------------------------------------------


MOST: Final = 0.999
"""Share of a backlog committed by which a worker's rate is also taken (without the tail:
the last events wait for the worker's idle flush)."""


class GroupWatcher:
    """Polls a consumer group's committed offsets on the input topics until all are in."""

    def __init__(self, bootstrap: str, group: str, ends: dict[TopicPartition, int]) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.ends = ends
        self.total = sum(ends.values())

    async def committed(self, admin: AIOKafkaAdminClient) -> int:
        offsets = await admin.list_consumer_group_offsets(self.group)
        return sum(max(0, offsets[tp].offset) for tp in self.ends if tp in offsets)

    async def watch(self, started: float, timeout_s: float, alive: Callable[[], bool],
                    on_poll: Callable[[int], None] | None = None,
                    stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        """From `started` (perf_counter): first commit and all-committed times, in seconds.

        Ends when all is committed, the process is gone, `stop()` says so or time is up; a
        run that did not complete reports its rate so far (`events_per_s_partial`).
        """
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        first_t = first_n = done_t = most_t = most_n = None
        last_n, last_t = 0, started
        progress: list[tuple[float, int]] = []
        try:
            deadline = time.perf_counter() + timeout_s
            while time.perf_counter() < deadline and alive() and not (stop and stop()):
                try:
                    n = await self.committed(admin)
                except Exception:  # group not there yet
                    n = 0
                now = time.perf_counter()
                if n != last_n:
                    last_n, last_t = n, now
                if on_poll:
                    on_poll(n)
                if not progress or now - started >= progress[-1][0] + 10:
                    progress.append((round(now - started, 1), n))
                if n > 0 and first_t is None:
                    first_t, first_n = now, n
                if most_t is None and n >= MOST * self.total:
                    most_t, most_n = now, n
                if n >= self.total:
                    done_t = now
                    break
                await asyncio.sleep(0.25)
        finally:
            await admin.close()
        out: dict[str, Any] = {"events": self.total, "committed": last_n,
                               "completed": done_t is not None, "progress": progress}
        if first_t is not None and first_n is not None:
            out["startup_to_first_commit_s"] = first_t - started
        if done_t is not None and first_t is not None and first_n is not None:
            total_s = done_t - started
            steady_s = done_t - first_t
            out.update({
                "seconds_from_start": total_s,
                "seconds_from_first_commit": steady_s,
                "events_after_first_commit": self.total - first_n,
                "events_per_s_from_start": self.total / total_s,
                "events_per_s": (self.total - first_n) / steady_s if steady_s > 0 else None,
            })
            if most_t is not None and most_n is not None and most_t > first_t:
                # The last events wait for the worker's idle flush (SELLERPERF_IDLE_FLUSH_S):
                # the lateness holds them back and no newer event comes to release them.
                out.update({"seconds_to_most": most_t - first_t, "tail_s": done_t - most_t,
                            "events_per_s_to_most": (most_n - first_n) / (most_t - first_t)})
        elif first_t is not None and first_n is not None and last_t > first_t:
            out["events_per_s_partial"] = (last_n - first_n) / (last_t - first_t)
        return out


# -- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes, 0 when gone."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, hwm


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def du_bytes(path: Path) -> int:
    """Bytes on disk under a directory (as du counts them)."""
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_blocks * 512
        except OSError:
            pass
    return total


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it does not end."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- table printing ----------------------------------------------------------------------------


def fmt(v: Any, unit: str = "", digits: int = 0) -> str:
    """A number with thousands separators and a unit, `n/a` for None."""
    if v is None:
        return "n/a"
    if isinstance(v, float | int):
        return f"{v:,.{digits}f}{unit}"
    return str(v)


def fmt_mib(v: Any) -> str:
    """Bytes in MiB."""
    return "n/a" if v is None else f"{v / 2**20:,.0f} MiB"


def fmt_load(x: Any) -> str:
    """Load averages as 1/5/15."""
    return "/".join(f"{v:.2f}" for v in x) if x else ""


def table(headers: tuple[str, ...], body: list[tuple[str, str, str]]) -> str:
    """A plain aligned table."""
    text = [list(headers)] + [list(row) for row in body]
    widths = [max(len(row[i]) for row in text) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(text):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
