"""Puts one partition's events into event-time order, within an allowed lateness.

Events are held until the watermark passes them and then released sorted by
(event_time, event_id). Any arrival order that stays within the lateness
gives the same released sequence, so the engine behind it computes the same
alerts whether events come from a file or from four Kafka topics fetched in
whatever interleaving. An event older than what was already released is
*too late*: refused, and counted by the caller.
"""

from __future__ import annotations

import heapq
from typing import Final

from streams.core.events import AnyEvent, event_time_ms

_NEVER: Final = -(2**62)


class Sequencer:
    """A reorder buffer keyed by (event_time_ms, event_id)."""

    __slots__ = ("_heap", "_last", "_released_tags", "_seq", "max_seen_ms", "released_ms")

    def __init__(self) -> None:
        self._heap: list[tuple[int, str, int, AnyEvent, object]] = []
        self._released_tags: list[object] = []
        self._seq = 0
        self._last: tuple[int, str] = (_NEVER, "")
        self.max_seen_ms = _NEVER
        """Greatest event time offered."""
        self.released_ms = _NEVER
        """Watermark of the last release: events older than this are too late."""

    def __len__(self) -> int:
        return len(self._heap)

    def offer(self, event: AnyEvent, tag: object = None) -> bool:
        """Buffer an event; False (and not buffered) when it is too late.

        `tag` is the caller's handle on the event (the Kafka worker acknowledges a
        record only once its event is released); `take_released_tags` hands it back.
        """
        t = event_time_ms(event)
        if t < self.released_ms:
            return False
        if t > self.max_seen_ms:
            self.max_seen_ms = t
        self._seq += 1
        heapq.heappush(self._heap, (t, event.event_id, self._seq, event, tag))
        return True

    def release(self, watermark_ms: int) -> list[tuple[int, AnyEvent]]:
        """(event_time_ms, event) older than the watermark, in order, each id once."""
        if watermark_ms <= self.released_ms:
            return []
        self.released_ms = watermark_ms
        heap = self._heap
        out: list[tuple[int, AnyEvent]] = []
        last = self._last
        tags = self._released_tags
        while heap and heap[0][0] < watermark_ms:
            t, event_id, _, event, tag = heapq.heappop(heap)
            if tag is not None:
                tags.append(tag)
            if (t, event_id) != last:  # a duplicate sorts next to its original
                last = (t, event_id)
                out.append((t, event))
        self._last = last
        return out

    @property
    def last_released(self) -> tuple[int, str]:
        """(event_time_ms, event_id) of the last event released."""
        return self._last

    def take_released_tags(self) -> list[object]:
        """The tags of the events released (or dropped as duplicates) since the last call."""
        tags, self._released_tags = self._released_tags, []
        return tags

    def pending_events(self) -> list[AnyEvent]:
        """The events held, in release order."""
        return [item[3] for item in sorted(self._heap)]

    def restore(self, pending: list[AnyEvent], released_ms: int, max_seen_ms: int,
                last: tuple[int, str]) -> None:
        """Reload a saved state (see streams.core.checkpoint)."""
        self.released_ms = released_ms
        self.max_seen_ms = max_seen_ms
        self._last = last
        self._heap = []
        for event in pending:
            self._seq += 1
            heapq.heappush(self._heap,
                           (event_time_ms(event), event.event_id, self._seq, event, None))

    def flush(self) -> list[tuple[int, AnyEvent]]:
        """Release everything still held (end of a finite input)."""
        if not self._heap:
            return []
        return self.release(self.max_seen_ms + 1)
