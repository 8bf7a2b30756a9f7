"""Marketplace calendars: local days in a time zone, business days without holidays.

The engine's clock stays in UTC milliseconds; only the numbering of days is
per calendar (docs/semantics.md, "Calendars"). A calendar file per marketplace
lives in deploy/calendars/<code>.toml: `time_zone` (an IANA name) and
`holidays` (dates).
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.core.clock import DAY_MS, day_from_date
from streams.errors import TargetProfileError

CALENDARS_DIR: Final = Path(__file__).resolve().parents[2] / "deploy" / "calendars"
"""Calendars beside the package (a source checkout); else ./deploy/calendars."""
_EPOCH: Final = date(1970, 1, 1)
_EPOCH_DT: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE_MS: Final = 60_000
_CACHE_MAX: Final = 200_000
"""UTC days whose offsets a calendar keeps (a few KB a year of data; bad dates aside)."""


class Calendar:
    """Local days and business days of one marketplace."""

    __slots__ = ("_offsets", "_starts", "holidays", "name", "time_zone", "utc", "zone")

    def __init__(self, name: str, time_zone: str = "UTC",
                 holidays: frozenset[int] = frozenset()) -> None:
        self.name = name
        """The marketplace code (or "UTC")."""
        self.time_zone = time_zone
        """IANA time zone name."""
        try:
            self.zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise TargetProfileError(
                f"calendar {name}: time_zone {time_zone!r} is not a known IANA time zone"
            ) from None
        self.utc = time_zone in ("UTC", "Etc/UTC")
        """Whether days are UTC days (the fast path)."""
        self.holidays = holidays
        """Local day numbers that are not business days."""
        self._offsets: dict[int, int | tuple[int, int, int]] = {}
        """UTC day -> its UTC offset in ms, or (instant of a change, offset before, after)."""
        self._starts: dict[int, int] = {}
        """Local day -> its first instant."""

    def day_of(self, ms: int) -> int:
        """The local day number of an instant."""
        if self.utc:
            return ms // DAY_MS
        found = self._offsets.get(ms // DAY_MS)
        if found is None:
            found = self._offsets_of(ms // DAY_MS)
        if type(found) is int:
            return (ms + found) // DAY_MS
        change, before, after = found  # type: ignore[misc]
        return (ms + (before if ms < change else after)) // DAY_MS

    def pack(self, anchor_ms: int, in_numerator: bool) -> int:
        """A contribution: counted on the anchor's local day, in the numerator or not.

        ``day << 2 | 2 | in_numerator``: bit 1 is always set, so every day (day 0 and days
        before 1970 too) packs to a non-zero int, and 0 alone means "counts nowhere"."""
        if self.utc:
            return (anchor_ms // DAY_MS) << 2 | 2 | in_numerator
        return self.day_of(anchor_ms) << 2 | 2 | in_numerator

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Calendar) and (
            self.name, self.time_zone, self.holidays) == (other.name, other.time_zone,
                                                          other.holidays)

    def __hash__(self) -> int:
        return hash((self.name, self.time_zone))

    def __repr__(self) -> str:
        return f"Calendar({self.name!r}, {self.time_zone!r}, {len(self.holidays)} holidays)"

    def _offset(self, ms: int) -> int:
        offset = datetime.fromtimestamp(ms / 1000, tz=self.zone).utcoffset()
        assert offset is not None
        return offset // timedelta(milliseconds=1)

    def _offsets_of(self, utc_day: int) -> int | tuple[int, int, int]:
        """The offsets of one UTC day: one, or the change within it (at most one a day,
        as in every real zone), found to the minute (changes are on whole minutes)."""
        lo, hi = utc_day * DAY_MS, (utc_day + 1) * DAY_MS - 1
        before, after = self._offset(lo), self._offset(hi)
        found: int | tuple[int, int, int]
        if before == after:
            found = before
        else:
            lo_min, hi_min = lo // _MINUTE_MS, hi // _MINUTE_MS + 1  # before at lo, after at hi
            while hi_min - lo_min > 1:
                mid = (lo_min + hi_min) // 2
                if self._offset(mid * _MINUTE_MS) == before:
                    lo_min = mid
                else:
                    hi_min = mid
            found = (hi_min * _MINUTE_MS, before, after)
        if len(self._offsets) >= _CACHE_MAX:
            self._offsets.clear()
        self._offsets[utc_day] = found
        return found

    def start_ms(self, day: int) -> int:
        """The first instant of a local day."""
        if self.utc:
            return day * DAY_MS
        found = self._starts.get(day)
        if found is None:
            # Local midnight, read with the offset before a gap (fold 0): in a gap that
            # swallows midnight, that is the end of the gap, the day's first instant.
            local = datetime.combine(_EPOCH + timedelta(days=day), time(0), tzinfo=self.zone)
            found = (local - _EPOCH_DT) // timedelta(milliseconds=1)
            while self.day_of(found - 1) >= day:  # a midnight that comes twice: the first
                found -= DAY_MS // 24
            while self.day_of(found) < day:
                found += _MINUTE_MS
            if len(self._starts) >= _CACHE_MAX:
                self._starts.clear()
            self._starts[day] = found
        return found

    def is_business_day(self, day: int) -> bool:
        """Monday to Friday (day 0, 1970-01-01, was a Thursday), not a holiday."""
        return (day + 3) % 7 < 5 and day not in self.holidays

    def add_business_days(self, ms: int, days: int) -> int:
        """The same local wall time as `ms`, `days` business days later (local dates)."""
        if self.utc and not self.holidays:
            while days > 0:
                ms += DAY_MS
                if (ms // DAY_MS + 3) % 7 < 5:
                    days -= 1
            return ms
        day = self.day_of(ms)
        target = day
        while days > 0:
            target += 1
            if self.is_business_day(target):
                days -= 1
        if self.utc:
            return ms + (target - day) * DAY_MS
        local = datetime.fromtimestamp(ms / 1000, tz=self.zone)
        moved = (local + timedelta(days=target - day)).replace(tzinfo=self.zone, fold=0)
        return (moved - _EPOCH_DT) // timedelta(milliseconds=1)

    def promise_end(self, ms: int) -> int:
        """A promise at local midnight (a date-only promise) means the end of that day."""
        day = self.day_of(ms)
        if self.start_ms(day) == ms:
            return self.start_ms(day + 1) - 1
        return ms


UTC_CALENDAR: Final = Calendar("UTC")


class Calendars:
    """The calendars of the marketplaces, read from a folder on first use."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else (
            CALENDARS_DIR if CALENDARS_DIR.is_dir() else Path.cwd() / "deploy" / "calendars")
        """Where the calendar files are."""
        self._known: dict[str, Calendar] = {}

    def of(self, marketplace: str | None) -> Calendar:
        """The calendar of a marketplace (UTC with no holidays if it has no file)."""
        if marketplace is None:
            return UTC_CALENDAR
        found = self._known.get(marketplace)
        if found is None:
            found = self._known[marketplace] = load_calendar(marketplace, self.folder)
        return found


def load_calendar(marketplace: str, folder: Path) -> Calendar:
    """One marketplace's calendar file; UTC with no holidays when there is none."""
    path = folder / f"{marketplace}.toml"
    if not marketplace.isalnum() or not path.is_file():
        return Calendar(marketplace)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TargetProfileError(f"{path}: not valid TOML: {exc}") from None
    zone = data.get("time_zone")
    if not isinstance(zone, str):
        raise TargetProfileError(
            f"{path}: field `time_zone`: got {zone!r}; expected an IANA name like Europe/Berlin")
    raw = data.get("holidays", [])
    if not isinstance(raw, list):
        raise TargetProfileError(f"{path}: field `holidays`: got {raw!r}; expected a list of dates")
    days = set()
    for i, d in enumerate(raw):
        if isinstance(d, datetime) or not isinstance(d, date):
            raise TargetProfileError(
                f"{path}: holidays[{i}]: got {d!r}; expected a date like 2026-12-25")
        days.add(day_from_date(d))
    return Calendar(marketplace, zone, frozenset(days))
