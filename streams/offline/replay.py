"""Offline driver: NDJSON events through the same partitions and engine as the worker."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from streams.core.alerts import Alert
from streams.core.clock import iso_ms
from streams.core.events import decode_event, event_time_ms
from streams.core.outputs import DeadLetter, SellerSnapshot, snapshot
from streams.core.partition import Offered, Partition
from streams.core.partitioner import partition_for
from streams.core.targets import TargetProfile
from streams.errors import InvalidEvent

DEFAULT_LATENESS_MS = 60_000
DEFAULT_MAX_FUTURE_SKEW_MS = 300_000
"""An event this far ahead of the wall clock (when the replay starts) is refused."""
_NEVER = -(2**62)


@dataclass(slots=True)
class ReplayResult:
    """What a replay did and produced."""

    partitions: list[Partition]
    """Final state, one per partition."""
    alerts: list[Alert] = field(default_factory=list)
    """Every alert, in the order raised (partition by partition interleaved as read)."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    """Every line that could not be used."""
    lines_total: int = 0
    """Non-blank lines read."""
    events_total: int = 0
    """Valid events accepted (before too-late checks)."""
    seconds: float = 0.0
    """Wall time of the run."""

    @property
    def too_late_total(self) -> int:
        """Late events older than the correction horizon: not applied."""
        return sum(p.too_late_total for p in self.partitions)

    @property
    def corrections_total(self) -> int:
        """Late events applied as corrections."""
        return sum(p.corrections_total for p in self.partitions)

    @property
    def future_total(self) -> int:
        """Events refused as too far in the future."""
        return sum(1 for d in self.dead_letters if d.reason == "future")

    @property
    def pending_total(self) -> int:
        """Events still held back by the sequencers (only without a flush)."""
        return sum(p.pending for p in self.partitions)

    def snapshots(self) -> list[SellerSnapshot]:
        """Final rates of every seller, sorted by seller id."""
        out = []
        for part in self.partitions:
            for seller_id in part.engine.sellers:
                snap = snapshot(part.engine, seller_id)
                if snap is not None:
                    out.append(snap)
        return sorted(out, key=lambda s: s.seller_id)


class Replayer:
    """Feeds raw event lines to per-partition pipelines, collecting alerts and dead letters."""

    def __init__(
        self,
        profile: TargetProfile,
        allowed_lateness_ms: int = DEFAULT_LATENESS_MS,
        partitions: int = 1,
        source: str = "<events>",
        on_alert: Callable[[Alert], None] | None = None,
        max_event_ms: int | None = None,
    ) -> None:
        self.result = ReplayResult([Partition(profile, allowed_lateness_ms)
                                    for _ in range(partitions)])
        self.source = source
        self.on_alert = on_alert
        self.allowed_lateness_ms = allowed_lateness_ms
        self.max_event_ms = max_event_ms
        """Events after this are refused as `future` (None: no guard)."""
        self.newest_ms = _NEVER
        """The greatest event time seen in the whole input: one clock for every partition."""

    def feed(self, raw: bytes, line_no: int) -> None:
        """One line: decode, validate, route to its partition, apply what is due."""
        result = self.result
        result.lines_total += 1
        try:
            event = decode_event(raw)
        except InvalidEvent as exc:
            result.dead_letters.append(DeadLetter.of(
                raw, exc.reason, exc.message, exc.field, self.source, None, line_no  # type: ignore[arg-type]
            ))
            return
        t = event_time_ms(event)
        if self.max_event_ms is not None and t > self.max_event_ms:
            result.dead_letters.append(DeadLetter.of(
                raw, "future",
                f"event_time {event.event_time.isoformat()} is ahead of the wall clock by "
                f"more than the allowed skew; expected a time before "
                f"{iso_ms(self.max_event_ms)}", "event_time", self.source, None, line_no,
            ))
            return
        result.events_total += 1
        parts = result.partitions
        part = parts[partition_for(event.seller_id, len(parts))] if len(parts) > 1 else parts[0]
        if part.offer(event) is Offered.TOO_LATE:
            result.dead_letters.append(DeadLetter.of(
                raw, "too_late",
                f"event_time {event.event_time.isoformat()} is more than "
                f"{part.max_correction_ms // 86_400_000} days behind the clock "
                f"{iso_ms(part.engine.clock_ms)}: too late to correct (the objects it "
                "belongs to may be gone)", "event_time", self.source, None, line_no,
            ))
            return
        if t > self.newest_ms:
            self.newest_ms = t
        # One clock: after each event every partition releases up to the same watermark
        # and its engine's clock moves there (a no-op for most: nothing held is due).
        watermark = self.newest_ms - self.allowed_lateness_ms
        for each in parts:
            self._emit(each.drain(watermark))

    def finish(self, flush: bool = True) -> ReplayResult:
        """Apply what is still held back (unless told not to), every partition's clock at
        the newest event time, and return the result."""
        if flush:
            for part in self.result.partitions:
                self._emit(part.flush(self.newest_ms))
        return self.result

    def _emit(self, alerts: list[Alert]) -> None:
        if alerts:
            self.result.alerts += alerts
            if self.on_alert is not None:
                for alert in alerts:
                    self.on_alert(alert)


def iter_lines(stream: BinaryIO, progress: Callable[[int], None] | None = None) -> Iterator[
    tuple[int, bytes]
]:
    """Non-blank lines with their 1-based numbers; reports bytes read to `progress`."""
    for number, line in enumerate(stream, 1):
        if progress is not None:
            progress(len(line))
        line = line.strip()
        if line:
            yield number, line


def replay_lines(
    lines: Iterable[tuple[int, bytes]],
    profile: TargetProfile,
    allowed_lateness_ms: int = DEFAULT_LATENESS_MS,
    partitions: int = 1,
    flush: bool = True,
    source: str = "<events>",
    max_event_ms: int | None = None,
) -> ReplayResult:
    """Replay numbered raw lines; the whole result. Events after `max_event_ms` are
    refused as `future` (None: no guard)."""
    started = time.perf_counter()
    replayer = Replayer(profile, allowed_lateness_ms, partitions, source,
                        max_event_ms=max_event_ms)
    for number, raw in lines:
        replayer.feed(raw, number)
    result = replayer.finish(flush)
    result.seconds = time.perf_counter() - started
    return result
