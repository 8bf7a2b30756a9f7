"""Event-time arithmetic on integer milliseconds and UTC day numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS
_EPOCH: Final = date(1970, 1, 1)
_EPOCH_DT: Final = datetime(1970, 1, 1, tzinfo=UTC)


def day_of(ms: int) -> int:
    """The UTC day number (days since 1970-01-01) of a time in ms."""
    return ms // DAY_MS


def is_business_day(day: int) -> bool:
    """Monday to Friday; day 0 (1970-01-01) was a Thursday."""
    return (day + 3) % 7 < 5


def add_business_days(ms: int, days: int) -> int:
    """Step forward one day at a time until `days` weekdays have been reached."""
    while days > 0:
        ms += DAY_MS
        if is_business_day(ms // DAY_MS):
            days -= 1
    return ms


def iso_ms(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2026-01-05T12:00:00.000Z."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_day(day: int) -> str:
    """The ISO date of a day number."""
    return (_EPOCH + timedelta(days=day)).isoformat()


def day_from_date(d: date) -> int:
    """The day number of a calendar date."""
    return (d - _EPOCH).days



def parse_time_ms(text: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 time with an offset (or Z)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset; expected e.g. 2026-01-05T12:00:00Z")
    return (parsed - _EPOCH_DT) // timedelta(milliseconds=1)
