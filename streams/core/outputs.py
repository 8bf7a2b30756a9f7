"""Output records besides alerts: per-seller metric snapshots and dead letters."""

from __future__ import annotations

import base64
import hashlib
from typing import Final, Literal

import msgspec

from streams.core.alerts import STATUS_NAMES, Health, Status
from streams.core.clock import iso_day, iso_ms
from streams.core.engine import Engine

DeadLetterReason = Literal[
    "not_json", "schema", "unknown_type", "missing_key", "key_mismatch", "too_late", "future"
]


class RateValue(msgspec.Struct, frozen=True, kw_only=True):
    """One judged rate of one seller."""

    metric: str
    """The rate (profile entry), e.g. late_shipment_rate_10d."""
    title: str
    """Human-readable name."""
    value: float | None
    """numerator / denominator; None when the denominator is 0."""
    numerator: int
    """Objects in the numerator over the window."""
    denominator: int
    """Objects in the denominator over the window."""
    target: float
    """The target in force."""
    direction: Literal["below", "at_most", "above", "at_least"]
    """How the rate is held against the target."""
    status: Status
    """Current status."""
    window_days: int
    """Window length."""
    lag_days: int
    """Reporting lag."""
    window_start: str
    """First day of the window (ISO date)."""
    window_end: str
    """Last day of the window (ISO date)."""
    target_version: str
    """The target version in force."""
    order_ids: list[str]
    """Recent objects that counted against the seller within the window."""
    marketplace: str | None = None
    """The marketplace the rate counts (None: every marketplace). Added in schema 2."""
    channel: Literal["seller", "marketplace"] | None = None
    """The channel the rate counts (None: both). Added in schema 2."""


class SellerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A seller's current rates; published to the compacted metrics topic on change."""

    seller_id: str
    """The seller (also the message key)."""
    as_of: str
    """Event time of the engine's clock (RFC 3339)."""
    target_profile: str
    """Profile the statuses were judged by."""
    account_health: Health
    """Worst status across the rates: healthy, at_risk or critical."""
    rates: list[RateValue]
    """Every judged rate."""
    marketplace_health: dict[str, Health] = {}
    """Per marketplace some rate is filtered on, the worst status over its rates. Added in
    schema 2; absent in older records, meaning none."""


DEAD_LETTER_MAX_VALUE_BYTES: Final = 256 * 1024
"""Original bytes a dead letter keeps by default: base64 makes them ~342 KiB, well under a
broker's default 1 MiB record limit (message.max.bytes) with the other fields."""
DEAD_LETTER_MAX_KEY_BYTES: Final = 1024
"""Original key bytes a dead letter keeps as text (a seller id has at most 64)."""
DEAD_LETTER_MAX_TEXT_CHARS: Final = 2000
"""Characters of `error` and `field` kept (they may quote the input)."""


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An input that could not be used, with where it came from and why.

    Changed (issue 16): the original bytes are kept up to a limit (256 KiB by default), so
    a dead letter always fits the topic whatever the size of the input; a larger input
    keeps a prefix, and `payload` says which, with the original's size and SHA-256. A key
    is kept up to 1 KiB. The new fields are optional: records written before them have
    none (and always the whole value)."""

    reason: DeadLetterReason
    """Category of the problem."""
    error: str
    """What was wrong: the field, the value and what was expected."""
    field: str | None
    """The offending field, when one is to blame."""
    source: str
    """Topic name, or the path of the file replayed."""
    partition: int | None
    """Kafka partition (None for a file)."""
    offset: int | None
    """Kafka offset, or the 1-based line number in a file."""
    key: str | None
    """Message key as text, if any (undecodable bytes replaced by U+FFFD; at most its
    first 1 KiB, see `key_truncated`)."""
    value_base64: str
    """The original bytes, base64-encoded: all of them, or their first bytes when
    `payload` is "truncated"."""
    payload: Literal["full", "truncated"] = "full"
    """Whether `value_base64` holds the whole original value or only a prefix of it."""
    original_size_bytes: int | None = None
    """Length of the original value in bytes."""
    original_sha256: str | None = None
    """SHA-256 of the whole original value, lowercase hex (to match it against the
    source when only a prefix is kept)."""
    key_truncated: bool = False
    """Whether `key` holds only the first 1 KiB of a longer key."""

    @staticmethod
    def of(
        raw: bytes,
        reason: DeadLetterReason,
        error: str,
        field: str | None,
        source: str,
        partition: int | None,
        offset: int | None,
        key: bytes | None = None,
        max_value_bytes: int | None = DEAD_LETTER_MAX_VALUE_BYTES,
    ) -> DeadLetter:
        """Build a dead letter around the original bytes (at most `max_value_bytes` of
        them; None: all)."""
        kept = raw if max_value_bytes is None else raw[:_whole_groups(max_value_bytes)]
        return DeadLetter(
            reason=reason,
            error=_clip(error),
            field=None if field is None else _clip(field),
            source=source,
            partition=partition,
            offset=offset,
            key=(None if key is None
                 else key[:DEAD_LETTER_MAX_KEY_BYTES].decode("utf-8", "replace")),
            value_base64=base64.b64encode(kept).decode(),
            payload="full" if len(kept) == len(raw) else "truncated",
            original_size_bytes=len(raw),
            original_sha256=hashlib.sha256(raw).hexdigest(),
            key_truncated=key is not None and len(key) > DEAD_LETTER_MAX_KEY_BYTES,
        )

    def fitted(self, max_value_bytes: int) -> DeadLetter:
        """The same letter keeping at most `max_value_bytes` of the original value (a
        whole number of 3-byte groups, so the base64 text is cut, not re-encoded)."""
        limit = _whole_groups(max_value_bytes)
        if len(self.value_base64) <= limit // 3 * 4:
            return self
        return msgspec.structs.replace(self, value_base64=self.value_base64[: limit // 3 * 4],
                                       payload="truncated")


def _whole_groups(max_bytes: int) -> int:
    """The most bytes up to `max_bytes` that base64 encodes without padding (at least 3)."""
    return max(3, max_bytes // 3 * 3)


def _clip(text: str) -> str:
    if len(text) <= DEAD_LETTER_MAX_TEXT_CHARS:
        return text
    return f"{text[:DEAD_LETTER_MAX_TEXT_CHARS]}... ({len(text)} characters in all)"


def snapshot(engine: Engine, seller_id: str) -> SellerSnapshot | None:
    """The seller's current rates as the engine holds them, None if unknown."""
    seller = engine.sellers.get(seller_id)
    if seller is None:
        return None
    rates = []
    for j, entry in enumerate(engine.entries):
        total = seller.sums[j]
        num, den = total & 0xFFFFFFFF, total >> 32
        version = engine.versions[j]
        rates.append(
            RateValue(
                metric=entry.name,
                title=entry.title,
                value=num / den if den else None,
                numerator=num,
                denominator=den,
                target=version.target,
                direction=entry.direction,
                status=STATUS_NAMES[seller.status[j]],
                window_days=entry.window_days,
                lag_days=entry.lag_days,
                window_start=iso_day(engine.win_lo[j] + 1),
                window_end=iso_day(engine.win_hi[j]),
                target_version=version.version_id,
                order_ids=engine.order_ids(seller, j, num, den),
                marketplace=entry.marketplace,
                channel=entry.channel,  # type: ignore[arg-type]
            )
        )
    return SellerSnapshot(
        seller_id=seller_id,
        as_of=iso_ms(engine.clock_ms),
        target_profile=engine.profile.name,
        account_health=engine.health(seller),
        rates=rates,
        marketplace_health={m: engine.health(seller, m) for m in engine.profile.marketplaces},
    )
