"""Engine state to bytes and back, for the worker's changelogged table.

A seller's state (facts, buckets, statuses, recent ids) is one value; the
partition's own state (clock, sequencer buffer, input positions) another.
Window sums and the deadline heap are derived, so they are rebuilt on
restore rather than stored.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from operator import attrgetter
from typing import Any, Final

import msgspec

from streams.core.events import AnyEvent, decode_event, encode_event
from streams.core.facts import Facts, MessageFacts, OrderFacts, ReturnFacts
from streams.core.partition import Partition
from streams.core.window import SellerState

FORMAT: Final = 4
"""4: contributions packed `day << 2 | 2 | bad`, messages and returns with marketplace and
channel (issue 17). Format 3 is still read (converted as it is read)."""
_NEW_IN_4: Final = frozenset(("channel", "marketplace"))
_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder()


def _slots(cls: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        names.extend(getattr(klass, "__slots__", ()))
    return tuple(names)


_FIELDS: Final[dict[type, tuple[str, ...]]] = {
    cls: _slots(cls) for cls in (OrderFacts, MessageFacts, ReturnFacts)
}
_FIELDS_3: Final[dict[type, tuple[str, ...]]] = {
    cls: tuple(n for n in names if cls is OrderFacts or n not in _NEW_IN_4)
    for cls, names in _FIELDS.items()
}
"""The fields format 3 saved (messages and returns had no marketplace or channel)."""
_STAMPS: Final = frozenset(("cancel_stamp", "feedback_stamp"))


_GETTERS: Final = {cls: attrgetter(*names) for cls, names in _FIELDS.items()}
"""Per facts class, all its fields at once (a tuple, read in C)."""


def _facts_row(f: Facts) -> list[Any]:
    return list(_GETTERS[type(f)](f))


def _facts_from(cls: type[Facts], row: list[Any], fmt: int = FORMAT) -> Any:
    f = cls.__new__(cls)
    if fmt == 3:
        f.marketplace = f.channel = None  # type: ignore[attr-defined]
    for name, value in zip(_FIELDS[cls] if fmt == FORMAT else _FIELDS_3[cls], row,
                           strict=True):
        if name in _STAMPS:
            value = tuple(value)
        elif name in _NEW_IN_4:
            value = None if value is None else sys.intern(value)
        elif name == "applied" and fmt == 3:  # day << 1 | bad, 0 for none
            value = [(p >> 1) << 2 | 2 | (p & 1) if p else 0 for p in value]
        elif name == "claims" and value is not None:
            value = {k: ((v[0][0], v[0][1]), v[1], v[2]) for k, v in value.items()}
        elif name == "chargebacks" and value is not None:
            value = {k: ((v[0][0], v[0][1]), v[1]) for k, v in value.items()}
        setattr(f, name, value)
    return f


_KIND_CLASS: Final[dict[str, type[Facts]]] = {
    "order": OrderFacts, "message": MessageFacts, "return": ReturnFacts
}


def encode_facts(facts: Facts) -> bytes:
    """One object's facts as bytes."""
    return _encoder.encode([FORMAT, _facts_row(facts)])


def decode_facts(kind: str, blob: bytes) -> Facts:
    """The inverse of `encode_facts`."""
    fmt, row = _decoder.decode(blob)
    if fmt not in (3, FORMAT):
        raise ValueError(f"facts format {fmt!r}; expected 3 or {FORMAT}")
    return _facts_from(_KIND_CLASS[kind], row, fmt)  # type: ignore[no-any-return]


def encode_seller(seller: SellerState) -> bytes:
    """A seller's own state: its statuses. Its buckets and recent ids are derived from its
    objects (recounted on restore), so they are not saved."""
    return _encoder.encode([FORMAT, seller.seller_id, len(seller.buckets), bytes(seller.status)])


def decode_seller(blob: bytes) -> SellerState:
    """The inverse of `encode_seller` (no objects; buckets and sums empty until restored)."""
    fmt, seller_id, n_slots, status = _decoder.decode(blob)
    if fmt not in (3, FORMAT):
        raise ValueError(f"seller state format {fmt!r}; expected 3 or {FORMAT}")
    seller = SellerState(seller_id, n_slots, len(status))
    seller.status = bytearray(status)
    return seller


def add_facts(seller: SellerState, kind: str, facts: Facts) -> None:
    """Put a restored object into its seller."""
    seller.add(kind, facts)


class PartitionState(msgspec.Struct, frozen=True):
    """What one partition needs besides its sellers to go on where it stopped."""

    clock_ms: int
    """The engine's clock."""
    released_ms: int
    """The sequencer's last release watermark."""
    max_seen_ms: int
    """The sequencer's greatest event time seen."""
    last_released: tuple[int, str]
    """The last (event_time_ms, event_id) released (to drop a duplicate right after)."""
    pending: list[bytes]
    """Events offered but not yet released, as canonical JSON (empty when the source
    redelivers them instead, as Kafka does for unacknowledged records)."""
    too_late_total: int
    """Events refused as too late so far."""
    positions: dict[str, int]
    """Per input topic, the next offset to process in this partition."""
    topic_max_ms: dict[str, int]
    """Per input topic, the greatest event time seen in this partition."""
    held_from: dict[str, int] = {}
    """Per input topic, the lowest offset whose event was still held back (not saved in
    `pending`: the source delivers it again)."""
    unpublished: list[str] = []
    """Sellers changed whose snapshot was not yet published (snapshots are published at
    most every so often): published after a restore, so a hand-over or a crash loses none."""
    unpublished_all: bool = False
    """Too many of them to list: publish every seller's snapshot after a restore."""


UNPUBLISHED_LISTED: Final = 10_000
"""Most unpublished sellers listed by name in a partition state (it must stay one small
Kafka record); beyond, every seller is published again after a restore."""


def partition_state(part: Partition, positions: dict[str, int],
                    topic_max_ms: dict[str, int], include_pending: bool = True,
                    held_from: dict[str, int] | None = None) -> bytes:
    """The partition's own state as bytes (with the sellers whose snapshot is due: the
    engine's `changed`)."""
    seq = part.sequencer
    pending = [encode_event(e) for e in seq.pending_events()] if include_pending else []
    changed = part.engine.changed
    many = len(changed) > UNPUBLISHED_LISTED
    return msgspec.msgpack.encode(PartitionState(
        part.engine.clock_ms, seq.released_ms, seq.max_seen_ms, seq.last_released, pending,
        part.too_late_total, positions, topic_max_ms, held_from or {},
        [] if many else sorted(changed), many,
    ))


def restore_partition(part: Partition, blob: bytes | None,
                      sellers: Iterable[SellerState]) -> PartitionState | None:
    """Load a partition's state and sellers (taken one at a time) into a fresh `Partition`."""
    state = msgspec.msgpack.decode(blob, type=PartitionState) if blob else None
    clock = state.clock_ms if state else None
    part.engine.restore(clock, sellers)
    if state is not None:
        events: list[AnyEvent] = [decode_event(raw) for raw in state.pending]
        part.sequencer.restore(events, state.released_ms, state.max_seen_ms,
                               (state.last_released[0], state.last_released[1]))
        part.too_late_total = state.too_late_total
        engine = part.engine
        engine.changed.update(engine.sellers if state.unpublished_all else
                              (s for s in state.unpublished if s in engine.sellers))
    return state


