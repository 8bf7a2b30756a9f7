"""Output records besides alerts: per-seller metric snapshots and dead letters."""

from __future__ import annotations

import base64
from typing import Literal

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


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An input that could not be used, with where it came from and why."""

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
    """Message key as text, if any."""
    value_base64: str
    """The original bytes, base64-encoded."""

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
    ) -> DeadLetter:
        """Build a dead letter around the original bytes."""
        return DeadLetter(
            reason=reason,
            error=error,
            field=field,
            source=source,
            partition=partition,
            offset=offset,
            key=key.decode("utf-8", "replace") if key is not None else None,
            value_base64=base64.b64encode(raw).decode(),
        )


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
