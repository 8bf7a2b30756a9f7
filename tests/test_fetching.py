"""The gaps a fetch declares to Faust so that its commits can move over them."""

import asyncio
from types import SimpleNamespace

from faust.types import TP

from streams.kafka.fetching import Consumer, _gaps


def test_contiguous_offsets_have_no_gap() -> None:
    assert _gaps(4, [5, 6, 7]) == []
    assert _gaps(None, [0, 1, 2]) == []


def test_a_jump_from_the_last_read_offset_or_within_the_fetch_is_a_gap() -> None:
    assert _gaps(4, [7, 8, 12]) == [(4, 7), (8, 12)]


def test_no_gap_is_counted_from_offset_zero_or_nothing_read_as_faust_does() -> None:
    assert _gaps(None, [3, 4]) == []
    assert _gaps(0, [3, 4]) == []
    assert _gaps(None, [3, 9]) == [(3, 9)]


class _Record:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class _ConsumerState:
    """What `Consumer._new_records` reads and writes of Faust's consumer."""

    def __init__(self, last: int | None) -> None:
        self._read_offset: dict[TP, int | None] = {TP("t", 0): last}
        self.gaps: list[tuple[int, int]] = []
        self.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: True))

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        self.gaps.append((offset_from, offset_to))  # Faust's interval: both ends included


def _new(last: int | None, offsets: list[int]) -> tuple[list[int], list[tuple[int, int]]]:
    state = _ConsumerState(last)
    batch = asyncio.run(Consumer._new_records(  # type: ignore[arg-type]
        state, TP("t", 0), [_Record(o) for o in offsets]))
    return [r.offset for r in batch], state.gaps


def test_only_the_missing_offsets_are_declared_never_a_record_delivered() -> None:
    # Faust's own drain declares (last + 1, offset): the record after the gap with it, so
    # Faust counted that record acknowledged even while it was held back.
    assert _new(4, [7, 8, 12]) == ([7, 8, 12], [(5, 6), (9, 11)])
    assert _new(4, [5, 6]) == ([5, 6], [])


def test_records_before_the_last_read_are_not_delivered_again() -> None:
    assert _new(6, [5, 6, 7]) == ([6, 7], [])  # as Faust: the last read one again
    assert _new(9, [5, 6]) == ([], [])
