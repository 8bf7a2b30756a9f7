"""The gaps a fetch declares to Faust so that its commits can move over them."""

from streams.fetching import _gaps


def test_contiguous_offsets_have_no_gap() -> None:
    assert _gaps(4, [5, 6, 7]) == []
    assert _gaps(None, [0, 1, 2]) == []


def test_a_jump_from_the_last_read_offset_or_within_the_fetch_is_a_gap() -> None:
    assert _gaps(4, [7, 8, 12]) == [(4, 7), (8, 12)]


def test_no_gap_is_counted_from_offset_zero_or_nothing_read_as_faust_does() -> None:
    assert _gaps(None, [3, 4]) == []
    assert _gaps(0, [3, 4]) == []
    assert _gaps(None, [3, 9]) == [(3, 9)]
