"""Target profiles: which metrics to judge, over which windows, against which targets.

A profile is a TOML file (deploy/targets/*.toml). Each entry names a
registered metric, its window and reporting lag, the direction of the
target, the minimum sample, and dated target versions; it may filter on a
marketplace and a channel, or split by them into one entry per value
(docs/semantics.md, "Dimensions").
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from fractions import Fraction
from itertools import product
from pathlib import Path
from typing import Any, Final, Literal

from streams.core.calendar import UTC_CALENDAR, Calendar, Calendars
from streams.core.clock import day_from_date, iso_day
from streams.core.metrics import get_metric
from streams.errors import TargetProfileError, UnknownMetric

Direction = Literal["below", "at_most", "above", "at_least"]
DIRECTIONS: Final = ("below", "at_most", "above", "at_least")
PROFILES_DIR: Final = Path(__file__).resolve().parents[2] / "deploy" / "targets"
"""Profiles beside the package (a source checkout); else ./deploy/targets (a container)."""
DEFAULT_PROFILE: Final = "amazon-us"
DEMO_PROFILE: Final = "amazon-us-de"
"""The profile `sellerperf demo` judges by: US and DE, seller-fulfilled and FBA."""
DIMENSIONS: Final = ("marketplace", "channel")
"""What an entry may filter on or split by, in the order split names list them."""
CHANNELS: Final = ("seller", "marketplace")
_MAX_SPLIT: Final = 64
"""Most entries one split may make (the values are small, bounded sets)."""


@dataclass(frozen=True, slots=True)
class TargetVersion:
    """A target in force from a given day."""

    since_day: int
    """First local day (of the entry's calendar) on which this version holds."""
    target: float
    """The rate that must not be reached (below) or must be exceeded (above)."""
    warning_margin: float
    """How close to the target (in rate units) counts as at risk."""
    version_id: str
    """Stable name reported in alerts, e.g. amazon-us/order_defect_rate_60d@2024-01-01."""
    bounds: tuple[tuple[int, int, int, int], tuple[int, int, int, int]]
    """Exact breach and at-risk boundaries as fractions (p_breach, q_breach, p_risk,
    q_risk): plain, then moved by the entry's hysteresis."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One judged rate: a metric over a window, held against a target."""

    name: str
    """Name of the rate, e.g. late_shipment_rate_10d."""
    metric: str
    """Registered metric it is computed from."""
    title: str
    """Human-readable title."""
    window_days: int
    """Length of the rolling window."""
    lag_days: int
    """The window ends this many days before the watermark's day."""
    direction: Direction
    """below / at_most: the rate must stay under / not over the target;
    above / at_least: it must stay over / not under it."""
    min_sample: int
    """Below this denominator the status is insufficient_data."""
    min_numerator: int
    """Count floor: fewer bad objects than this never make at_risk or breach."""
    hysteresis: float
    """How far past a threshold the rate must go back before the status improves."""
    versions: tuple[TargetVersion, ...]
    """Target versions, oldest first."""
    rate: str = ""
    """The profile's entry this one was split from (its name when not split)."""
    marketplace: str | None = None
    """Only objects of this marketplace count (None: every marketplace)."""
    channel: str | None = None
    """Only objects of this channel count (None: every channel)."""
    calendar: Calendar = UTC_CALENDAR
    """Whose local days the windows and anchor days are, and its business days."""

    @property
    def filter(self) -> tuple[str | None, str | None]:
        """(marketplace, channel) the metric is filtered on."""
        return (self.marketplace, self.channel)

    def version_at(self, day: int) -> TargetVersion:
        """The version in force on a day (the oldest one before any exists)."""
        current = self.versions[0]
        for v in self.versions:
            if v.since_day <= day:
                current = v
        return current


@dataclass(frozen=True, slots=True)
class TargetProfile:
    """A named set of entries."""

    name: str
    """Profile name, e.g. amazon-us."""
    description: str
    """What the profile is based on."""
    entries: tuple[Entry, ...]
    """The judged rates, in file order (split entries one per value, in place)."""
    calendar: Calendar = UTC_CALENDAR
    """The calendar of entries not filtered on a marketplace."""
    calendars: Calendars | None = field(default=None, compare=False)
    """Every marketplace's calendar (date-only promises); None: deploy/calendars."""

    @property
    def horizon_days(self) -> int:
        """The longest window plus its lag."""
        return max(e.window_days + e.lag_days for e in self.entries)

    @property
    def marketplaces(self) -> tuple[str, ...]:
        """The marketplaces some entry is filtered on, sorted."""
        return tuple(sorted({e.marketplace for e in self.entries if e.marketplace}))


def load_profile(name_or_path: str | Path, calendars: Calendars | None = None) -> TargetProfile:
    """Load a profile by name (from deploy/targets) or by file path."""
    path = Path(name_or_path)
    if not path.suffix:
        folder = PROFILES_DIR if PROFILES_DIR.is_dir() else Path.cwd() / "deploy" / "targets"
        path = folder / f"{name_or_path}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise TargetProfileError(f"no target profile at {path} (known: {known})") from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetProfileError(f"{path}: not valid TOML: {exc}") from None
    return parse_profile(data, source=str(path), calendars=calendars)


def parse_profile(data: dict[str, Any], source: str = "<profile>",
                  calendars: Calendars | None = None) -> TargetProfile:
    """Build a profile from parsed TOML, with errors naming the field and value."""
    calendars = Calendars() if calendars is None else calendars
    name = _field(data, "name", str, source)
    raw_entries = _field(data, "entries", dict, source)
    if not raw_entries:
        raise TargetProfileError(f"{source}: `entries` is empty; expected at least one entry")
    default = data.get("calendar")
    if default is not None and not _is_code(default):
        raise TargetProfileError(f"{source}: field `calendar`: got {default!r}; expected a "
                                 "marketplace code like US")
    calendar = calendars.of(default)
    entries: list[Entry] = []
    for key, spec in raw_entries.items():
        where = f"{source}: entries.{key}"
        for suffix, market, channel in _combinations(spec, where):
            entry = _entry(name, key + suffix, spec, where)
            entries.append(replace(
                entry, rate=key, marketplace=market, channel=channel,
                calendar=calendars.of(market) if market else calendar))
    names = [e.name for e in entries]
    for n in names:
        if names.count(n) > 1:
            raise TargetProfileError(f"{source}: two entries are named {n!r}; expected "
                                     "distinct names (split entries are named entry.value...)")
    return TargetProfile(name, str(data.get("description", "")), tuple(entries), calendar,
                         calendars)


def _is_code(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 16 and value.isalnum()


def _combinations(spec: Any, where: str) -> list[tuple[str, str | None, str | None]]:
    """(name suffix, marketplace, channel) of each entry a profile entry stands for."""
    if not isinstance(spec, dict):
        raise TargetProfileError(f"{where}: expected a table, got {spec!r}")
    market = spec.get("marketplace")
    if market is not None and not _is_code(market):
        raise TargetProfileError(f"{where}.marketplace: got {market!r}; expected a "
                                 "marketplace code like US")
    channel = spec.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise TargetProfileError(f"{where}.channel: got {channel!r}; expected one of "
                                 f"{', '.join(CHANNELS)}")
    split = spec.get("split_by", [])
    if not isinstance(split, list) or any(d not in DIMENSIONS for d in split) or (
            len(set(split)) != len(split)):
        raise TargetProfileError(f"{where}.split_by: got {split!r}; expected a list of "
                                 f"distinct {' and '.join(DIMENSIONS)}")
    markets: list[str | None] = [market]
    channels: list[str | None] = [channel]
    if "marketplace" in split:
        if market is not None:
            raise TargetProfileError(f"{where}: marketplace = {market!r} and split_by "
                                     "marketplace; expected one of them")
        values = spec.get("marketplaces")
        if not isinstance(values, list) or not values or not all(map(_is_code, values)):
            raise TargetProfileError(f"{where}.marketplaces: got {values!r}; expected the "
                                     "marketplace codes to split by, like [\"US\", \"DE\"]")
        markets = list(dict.fromkeys(values))
    if "channel" in split:
        if channel is not None:
            raise TargetProfileError(f"{where}: channel = {channel!r} and split_by channel; "
                                     "expected one of them")
        values = spec.get("channels", list(CHANNELS))
        if (not isinstance(values, list) or not values
                or any(v not in CHANNELS for v in values)):
            raise TargetProfileError(f"{where}.channels: got {values!r}; expected a list of "
                                     f"{', '.join(CHANNELS)}")
        channels = list(dict.fromkeys(values))
    if len(markets) * len(channels) > _MAX_SPLIT:
        raise TargetProfileError(f"{where}.split_by: {len(markets) * len(channels)} "
                                 f"combinations; expected at most {_MAX_SPLIT}")
    out = []
    for m, c in product(markets, channels):
        suffix = "".join(f".{v}" for d, v in (("marketplace", m), ("channel", c)) if d in split)
        out.append((suffix, m, c))
    return out


def _entry(profile: str, key: str, spec: dict[str, Any], where: str) -> Entry:
    metric = _field(spec, "metric", str, where)
    try:
        get_metric(metric)
    except UnknownMetric as exc:
        raise TargetProfileError(f"{where}.metric: {exc}") from None
    direction = _field(spec, "direction", str, where)
    if direction not in DIRECTIONS:
        raise TargetProfileError(
            f"{where}.direction: got {direction!r}; expected one of {', '.join(DIRECTIONS)}"
        )
    window = _positive(spec, "window_days", where)
    hysteresis = _rate(spec, "hysteresis", where, 0.0)
    versions = tuple(
        _version(profile, key, v, f"{where}.versions[{i}]", direction, hysteresis)
        for i, v in enumerate(_field(spec, "versions", list, where))
    )
    if not versions:
        raise TargetProfileError(f"{where}.versions: empty; expected at least one version")
    for i in range(1, len(versions)):
        if versions[i].since_day <= versions[i - 1].since_day:
            raise TargetProfileError(
                f"{where}.versions[{i}].since: got {iso_day(versions[i].since_day)}, not after "
                f"versions[{i - 1}].since {iso_day(versions[i - 1].since_day)}; expected versions "
                f"sorted by `since`")
    return Entry(
        name=key,
        metric=metric,
        title=str(spec.get("title", get_metric(metric).title)),
        window_days=window,
        lag_days=_non_negative(spec, "lag_days", where, 0),
        direction=direction,
        min_sample=_non_negative(spec, "min_sample", where, 1),
        min_numerator=_non_negative(spec, "min_numerator", where, 0),
        hysteresis=hysteresis,
        versions=versions,
    )


def _version(profile: str, entry: str, spec: Any, where: str, direction: str,
             hysteresis: float) -> TargetVersion:
    if not isinstance(spec, dict):
        raise TargetProfileError(f"{where}: expected a table, got {spec!r}")
    since = spec.get("since")
    if isinstance(since, datetime) or not isinstance(since, date):
        raise TargetProfileError(f"{where}.since: got {since!r}; expected a date like 2024-01-01")
    day = day_from_date(since)
    target = _rate(spec, "target", where, None)
    margin = _rate(spec, "warning_margin", where, 0.0)
    return TargetVersion(day, target, margin, f"{profile}/{entry}@{iso_day(day)}",
                         _bounds(direction, target, margin, hysteresis))


def _bounds(direction: str, target: float, margin: float, hysteresis: float) -> tuple[
    tuple[int, int, int, int], tuple[int, int, int, int]
]:
    """Exact (breach, at-risk) boundaries, plain and moved by the hysteresis.

    Decimal fractions of the figures as written, so that a rate of exactly 3/100 sits
    exactly on a 5 % target with a 2-point margin, as a reader expects.
    """
    t, m, h = Fraction(str(target)), Fraction(str(margin)), Fraction(str(hysteresis))
    sign = -1 if direction in ("below", "at_most") else 1
    breach, risk = t, t + sign * m
    breach_h, risk_h = t + sign * h, t + sign * (m + h)
    return (
        (breach.numerator, breach.denominator, risk.numerator, risk.denominator),
        (breach_h.numerator, breach_h.denominator, risk_h.numerator, risk_h.denominator),
    )


def _field(spec: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = spec.get(key)
    if not isinstance(value, kind):
        raise TargetProfileError(
            f"{where}: field `{key}`: got {value!r}; expected a {kind.__name__}"
        )
    return value


def _positive(spec: dict[str, Any], key: str, where: str) -> int:
    value = spec.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TargetProfileError(f"{where}.{key}: got {value!r}; expected an integer >= 1")
    return value


def _non_negative(spec: dict[str, Any], key: str, where: str, default: int) -> int:
    value = spec.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TargetProfileError(f"{where}.{key}: got {value!r}; expected an integer >= 0")
    return value


def _rate(spec: dict[str, Any], key: str, where: str, default: float | None) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise TargetProfileError(f"{where}.{key}: got {value!r}; expected a ratio in [0, 1]")
    return float(value)
