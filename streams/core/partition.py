"""One partition's processing: the sequencer in front of the engine."""

from __future__ import annotations

from enum import Enum

from streams.core.alerts import Alert
from streams.core.engine import Engine
from streams.core.events import AnyEvent, event_time_ms
from streams.core.facts import MAX_CORRECTION_MS
from streams.core.sequencer import Sequencer
from streams.core.targets import TargetProfile


class Offered(Enum):
    """What became of an event offered to a partition."""

    HELD = "held"
    """In the reorder buffer until the watermark passes it."""
    CORRECTED = "corrected"
    """Late (the watermark had passed it), applied at once as a correction."""
    TOO_LATE = "too_late"
    """Older than the correction horizon: not applied."""


class Partition:
    """Orders events within the allowed lateness, then applies them to the engine; a late
    event is applied at once as a correction (docs/semantics.md, "Time")."""

    def __init__(self, profile: TargetProfile, allowed_lateness_ms: int,
                 max_correction_ms: int = MAX_CORRECTION_MS) -> None:
        self.engine = Engine(profile)
        self.sequencer = Sequencer()
        self.allowed_lateness_ms = allowed_lateness_ms
        """How far behind the newest event time an event may arrive and still be ordered."""
        self.max_correction_ms = max_correction_ms
        """How far behind the clock a late event may be and still be applied."""
        self.too_late_total = 0
        """Events refused because they were older than the correction horizon."""
        self.corrections_total = 0
        """Late events applied as corrections."""
        self._corrections: list[Alert] = []

    def offer(self, event: AnyEvent, tag: object = None) -> Offered:
        """Take an event: held for ordering, applied at once as a correction (its alerts
        come with the next `drain`), or too late to apply (counted)."""
        if self.sequencer.offer(event, tag):
            return Offered.HELD
        t = event_time_ms(event)
        if t < self.engine.clock_ms - self.max_correction_ms:
            self.too_late_total += 1
            return Offered.TOO_LATE
        self.corrections_total += 1
        self._corrections += self.engine.apply(event, t, correction=True)
        return Offered.CORRECTED

    def drain(self, watermark_ms: int | None = None) -> list[Alert]:
        """Apply the events the watermark has passed (by default: newest seen minus
        lateness) and move the clock to the watermark; the alerts, corrections first."""
        if watermark_ms is None:
            watermark_ms = self.sequencer.max_seen_ms - self.allowed_lateness_ms
        if watermark_ms <= self.sequencer.released_ms and not self._corrections:
            return []  # nothing new: released and advanced to at least this already
        alerts, self._corrections = self._corrections, []
        alerts += self._apply(self.sequencer.release(watermark_ms))
        if watermark_ms > self.engine.clock_ms and self.sequencer.released_ms == watermark_ms:
            alerts += self.engine.advance(watermark_ms)
        return alerts

    def flush(self, clock_ms: int | None = None) -> list[Alert]:
        """Apply everything held back (the end of a finite input) and move the clock to
        `clock_ms` (by default the newest event time seen)."""
        alerts, self._corrections = self._corrections, []
        if clock_ms is None or clock_ms < self.sequencer.max_seen_ms:
            clock_ms = self.sequencer.max_seen_ms
        # Released past everything: an event at or before the clock coming later is late.
        alerts += self._apply(self.sequencer.release(clock_ms + 1))
        if clock_ms > self.engine.clock_ms:
            alerts += self.engine.advance(clock_ms)
        return alerts

    def _apply(self, events: list[tuple[int, AnyEvent]]) -> list[Alert]:
        alerts: list[Alert] = []
        apply = self.engine.apply
        for t, event in events:
            found = apply(event, t)
            if found:
                alerts += found
        return alerts

    @property
    def pending(self) -> int:
        """Events held back, waiting for the watermark."""
        return len(self.sequencer)
