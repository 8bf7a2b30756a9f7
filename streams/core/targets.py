"""Target profiles: which metrics to judge, over which windows, against which targets.

A profile is a TOML file (deploy/targets/*.toml). Each entry names a
registered metric, its window and reporting lag, the direction of the
target, the minimum sample, and dated target versions.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, Literal

from streams.core.clock import day_from_date, iso_day
from streams.core.metrics import get_metric
from streams.errors import TargetProfileError, UnknownMetric

Direction = Literal["below", "at_most", "above", "at_least"]
DIRECTIONS: Final = ("below", "at_most", "above", "at_least")
PROFILES_DIR: Final = Path(__file__).resolve().parents[2] / "deploy" / "targets"
"""Profiles beside the package (a source checkout); else ./deploy/targets (a container)."""
DEFAULT_PROFILE: Final = "amazon-us"


@dataclass(frozen=True, slots=True)
class TargetVersion:
    """A target in force from a given day."""

    since_day: int
    """First UTC day number on which this version holds."""
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
    """The judged rates, in file order."""

    @property
    def horizon_days(self) -> int:
        """The longest window plus its lag."""
        return max(e.window_days + e.lag_days for e in self.entries)


def load_profile(name_or_path: str | Path) -> TargetProfile:
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
    return parse_profile(data, source=str(path))


def parse_profile(data: dict[str, Any], source: str = "<profile>") -> TargetProfile:
    """Build a profile from parsed TOML, with errors naming the field and value."""
    name = _field(data, "name", str, source)
    raw_entries = _field(data, "entries", dict, source)
    if not raw_entries:
        raise TargetProfileError(f"{source}: `entries` is empty; expected at least one entry")
    entries = tuple(_entry(name, key, spec, f"{source}: entries.{key}")
                    for key, spec in raw_entries.items())
    return TargetProfile(name, str(data.get("description", "")), entries)


def _entry(profile: str, key: str, spec: Any, where: str) -> Entry:
    if not isinstance(spec, dict):
        raise TargetProfileError(f"{where}: expected a table, got {spec!r}")
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
