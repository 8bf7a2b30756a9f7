"""Readable terminal tables: sellers at risk, alerts, run summaries."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterable, Sequence

from streams.core.alerts import STATUS_NAMES, Alert, level
from streams.core.outputs import RateValue, SellerSnapshot
from streams.core.targets import Entry, TargetProfile

_COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
_STYLE = {"breach": "\033[31m", "at_risk": "\033[33m", "critical": "\033[31m", "ok": "\033[32m"}


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], right: str = "") -> str:
    """A plain aligned table; columns named in `right` are right-aligned."""
    text = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(_plain(r[i])) for r in text) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(text):
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - len(_plain(cell)))
            cells.append(pad + cell if headers[i] in right.split(",") else cell + pad)
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _plain(cell: str) -> str:
    if "\033[" not in cell:
        return cell
    import re

    return re.sub(r"\033\[[0-9;]*m", "", cell)


def paint(word: str) -> str:
    """Colour a status word when writing to a terminal."""
    style = _STYLE.get(word)
    return f"{style}{word}\033[0m" if _COLOR and style else word


def pct(value: float | None) -> str:
    """A rate as a percentage with two decimals."""
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _op(direction: str) -> str:
    return {"below": "<", "at_most": "<=", "above": ">", "at_least": ">="}[direction]


HELD_NOTE = ("(held): the value alone would give a better status, but a status improves only "
             "once the rate is back past the threshold by the profile's hysteresis for that "
             "rate, so that a rate sitting on a threshold does not flap.")
"""Footnote of the sellers table when a status is held by hysteresis."""
MIN_SAMPLE_NOTE = ("(min N): the window holds fewer objects than the profile's min_sample N "
                   "for that rate, so it is not judged (insufficient_data) until it holds "
                   "enough again.")
"""Footnote of the alerts table when a rate went to insufficient_data."""


def _entries(profile: TargetProfile | None) -> dict[str, Entry]:
    return {} if profile is None else {e.name: e for e in profile.entries}


def is_held(rate: RateValue, entry: Entry | None) -> bool:
    """Whether the status is worse than the value alone would give: held by hysteresis."""
    if entry is None:  # no profile at hand: compare with the target only
        return rate.status == "breach" and rate.value is not None and {
            "below": rate.value < rate.target, "at_most": rate.value <= rate.target,
            "above": rate.value > rate.target, "at_least": rate.value >= rate.target,
        }[rate.direction]
    version = next((v for v in entry.versions if v.version_id == rate.target_version), None)
    if version is None or rate.denominator == 0:
        return False
    plain = level(entry, version, rate.numerator, rate.denominator, relaxed=False)
    return plain < STATUS_NAMES.index(rate.status)


def sellers_table(snapshots: Iterable[SellerSnapshot], profile: TargetProfile | None = None,
                  limit: int = 40) -> str:
    """One row per (seller, rate) that is at risk or in breach, worst first; a status held
    by hysteresis is marked and explained under the table."""
    rows: list[tuple[int, str, RateValue]] = []
    for snap in snapshots:
        for r in snap.rates:
            if r.status in ("at_risk", "breach"):
                rows.append((0 if r.status == "breach" else 1, snap.seller_id, r))
    if not rows:
        return "(none)"
    rows.sort(key=lambda x: (x[0], x[1], x[2].metric))
    entries = _entries(profile)
    shown = []
    held_shown = False
    for _, seller, r in rows[:limit]:
        held = is_held(r, entries.get(r.metric))
        held_shown |= held
        shown.append((
            seller,
            r.metric,
            paint(r.status) + (" (held)" if held else ""),
            pct(r.value),
            f"{_op(r.direction)} {pct(r.target)}",
            f"{r.numerator} / {r.denominator}",
            f"{r.window_days} d",
            ", ".join(r.order_ids[-3:]),
        ))
    out = table(
        ("seller", "rate", "status", "value", "target", "num / den", "window", "recent orders"),
        shown,
        right="value,num / den,window",
    )
    if len(rows) > limit:
        out += f"\n... and {len(rows) - limit} more"
    if held_shown:
        out += "\n" + textwrap.fill(HELD_NOTE, 100)
    return out


def alerts_table(alerts: Sequence[Alert], profile: TargetProfile | None = None,
                 limit: int = 25) -> str:
    """The latest alerts, one row each; a change to insufficient_data shows the minimum
    sample the denominator fell below."""
    if not alerts:
        return "(none)"
    entries = _entries(profile)
    shown = []
    short = False
    for a in alerts[-limit:]:
        counts = f"{a.numerator} / {a.denominator}"
        entry = entries.get(a.metric)
        if a.status == "insufficient_data" and entry is not None:
            counts += f" (min {entry.min_sample})"
            short = True
        shown.append((
            a.as_of[:16].replace("T", " "),
            a.seller_id,
            a.metric,
            f"{a.previous_status} -> {paint(a.status)}",
            pct(a.value),
            f"{_op(a.direction)} {pct(a.target)}",
            counts,
        ))
    out = table(("as of (UTC)", "seller", "rate", "change", "value", "target", "num / den"),
                shown, right="value,num / den")
    if len(alerts) > limit:
        out = f"(latest {limit} of {len(alerts)})\n" + out
    if short:
        out += "\n" + textwrap.fill(MIN_SAMPLE_NOTE, 100)
    return out


def health_counts(snapshots: Iterable[SellerSnapshot]) -> str:
    """Sellers per account health."""
    counts = {"healthy": 0, "at_risk": 0, "critical": 0}
    for snap in snapshots:
        counts[snap.account_health] += 1
    return ", ".join(f"{paint(k)}: {v}" for k, v in counts.items())


def rate(count: int, seconds: float) -> str:
    """Events per second with a thousands separator."""
    return f"{count / seconds:,.0f} events/s" if seconds > 0 else "n/a"
