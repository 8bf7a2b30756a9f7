"""One partition's processing: the sequencer in front of the engine."""

from __future__ import annotations

from streams.core.alerts import Alert
from streams.core.engine import Engine
from streams.core.events import AnyEvent
from streams.core.sequencer import Sequencer
from streams.core.targets import TargetProfile


class Partition:
    """Orders events within the allowed lateness, then applies them to the engine."""

    def __init__(self, profile: TargetProfile, allowed_lateness_ms: int) -> None:
        self.engine = Engine(profile)
        self.sequencer = Sequencer()
        self.allowed_lateness_ms = allowed_lateness_ms
        """How far behind the newest event time an event may arrive and still count."""
        self.too_late_total = 0
        """Events refused because they arrived after the watermark passed them."""

    def offer(self, event: AnyEvent, tag: object = None) -> bool:
        """Take an event; False when it is too late (counted, not applied)."""
        if self.sequencer.offer(event, tag):
            return True
        self.too_late_total += 1
        return False

    def drain(self, watermark_ms: int | None = None) -> list[Alert]:
        """Apply the events the watermark has passed (by default: newest seen minus lateness)."""
        if watermark_ms is None:
            watermark_ms = self.sequencer.max_seen_ms - self.allowed_lateness_ms
        return self._apply(self.sequencer.release(watermark_ms))

    def flush(self) -> list[Alert]:
        """Apply everything held back (the end of a finite input)."""
        return self._apply(self.sequencer.flush())

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
