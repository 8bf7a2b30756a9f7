"""Per seller and rate, a status state machine and the alerts it emits."""

from __future__ import annotations

import hashlib
from typing import Final, Literal

import msgspec

from streams.core.targets import Entry, TargetVersion

INSUFFICIENT: Final = 0
OK: Final = 1
AT_RISK: Final = 2
BREACH: Final = 3
STATUS_NAMES: Final = ("insufficient_data", "ok", "at_risk", "breach")
Status = Literal["insufficient_data", "ok", "at_risk", "breach"]
Health = Literal["healthy", "at_risk", "critical"]
HEALTH_OF_STATUS: Final[tuple[Health, ...]] = ("healthy", "healthy", "at_risk", "critical")


def level(entry: Entry, version: TargetVersion, num: int, den: int, relaxed: bool) -> int:
    """OK, AT_RISK or BREACH; `relaxed` moves the thresholds by the hysteresis."""
    # Thresholds are exact fractions p/q: compare num/den with them as num*q against p*den.
    bp, bq, rp, rq = version.bounds[1 if relaxed else 0]
    direction = entry.direction
    if direction == "below" or direction == "at_most":
        bad = num  # the numerator counts the bad objects
        scaled = num * bq
        limit = bp * den
        over = scaled >= limit if direction == "below" else scaled > limit
        risky = num * rq >= rp * den
    else:
        bad = den - num
        scaled = num * bq
        limit = bp * den
        over = scaled <= limit if direction == "above" else scaled < limit
        risky = num * rq <= rp * den
    if bad < entry.min_numerator or bad == 0:
        return OK
    if over:
        return BREACH
    return AT_RISK if risky else OK


def judge(entry: Entry, version: TargetVersion, num: int, den: int, previous: int) -> int:
    """The next status: worse at once, better only once past the hysteresis band."""
    if den < entry.min_sample or den == 0:
        return INSUFFICIENT
    raw = level(entry, version, num, den, False)
    if previous <= OK or raw >= previous:
        return raw
    relaxed = level(entry, version, num, den, True)
    return relaxed if relaxed < previous else previous


def worth_alerting(previous: int, status: int) -> bool:
    """Changes that involve at_risk or breach; insufficient_data <-> ok is quiet."""
    return previous != status and (previous >= AT_RISK or status >= AT_RISK)


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """A seller's rate changed status."""

    alert_id: str
    """Deterministic id from the alert's content: downstream consumers deduplicate on it."""
    seller_id: str
    """The seller."""
    metric: str
    """The judged rate (profile entry), e.g. late_shipment_rate_10d; distinct within the
    profile (a split entry's name ends in its values, e.g. order_defect_rate_60d.DE.seller)."""
    title: str
    """Human-readable name of the rate."""
    status: Status
    """The new status."""
    previous_status: Status
    """The status before."""
    value: float | None
    """numerator / denominator, None when the denominator is 0."""
    numerator: int
    """Objects in the numerator over the window."""
    denominator: int
    """Objects in the denominator over the window."""
    target: float
    """The target in force."""
    direction: Literal["below", "at_most", "above", "at_least"]
    """How the rate is held against the target."""
    warning_margin: float
    """Distance to the target that counts as at risk."""
    window_days: int
    """Length of the window."""
    lag_days: int
    """Reporting lag of the window."""
    window_start: str
    """First day of the window (ISO date)."""
    window_end: str
    """Last day of the window (ISO date)."""
    target_profile: str
    """Profile name."""
    target_version: str
    """The target version the status was judged by."""
    as_of: str
    """The event-time watermark at which the status changed (RFC 3339)."""
    order_ids: list[str]
    """Up to five recent objects that counted against the seller (order ids where known)."""
    account_health: Health
    """The seller's worst status across all rates, after this change."""
    correction: bool = False
    """True when a late event (older than the release watermark when it arrived) caused
    the change: it corrects what earlier alerts said (docs/semantics.md, "Late events are
    corrections"). Absent in records of versions before it, meaning false."""
    marketplace: str | None = None
    """The marketplace the rate counts (None: every marketplace). Added in schema 2;
    absent in older records, meaning None."""
    channel: Literal["seller", "marketplace"] | None = None
    """The channel the rate counts: seller-fulfilled or fulfilled by the marketplace (None:
    both). Added in schema 2; absent in older records, meaning None."""
    marketplace_health: Health | None = None
    """The seller's worst status over the rates of this marketplace, after this change
    (None when the rate is not filtered on a marketplace). Added in schema 2."""


def alert_id(*parts: object) -> str:
    """A stable id: the same transition at the same point of the stream gets the same id."""
    text = "|".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
