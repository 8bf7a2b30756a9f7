"""Shared builders for the behaviour tests: events, profiles, engines.

Helpers are handed to tests as fixtures (`ev`, `profile_of`, `amazon`) so that
no test module imports this file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import orjson
import pytest

from streams.core.clock import DAY_MS, HOUR_MS, iso_ms
from streams.core.events import AnyEvent, decode_event
from streams.core.targets import TargetProfile, parse_profile


class Events:
    """Builds valid events through the real decoder, with fresh, sortable event ids."""

    def __init__(self, seller_id: str = "s1") -> None:
        self.seller_id = seller_id
        self._n = 0

    def make(
        self, type_: str, at: int, *, seller: str | None = None, event_id: str | None = None,
        **fields: Any,
    ) -> AnyEvent:
        """One event of `type_` at time `at` (ms)."""
        self._n += 1
        doc = {
            "event_id": event_id or f"ev-{self._n:06d}",
            "type": type_,
            "event_time": iso_ms(at),
            "seller_id": seller or self.seller_id,
            **fields,
        }
        return decode_event(orjson.dumps(doc))

    def placed(
        self, order_id: str, at: int, *, channel: str = "marketplace", ship_by: int | None = None,
        promised: int | None = None, seller: str | None = None, event_id: str | None = None,
    ) -> AnyEvent:
        """An order placed at `at`; by default due to ship 10 h and arrive 3 days later."""
        return self.make(
            "order_placed", at, seller=seller, event_id=event_id, order_id=order_id,
            marketplace="US",
            channel=channel,
            expected_ship_at=iso_ms(at + 10 * HOUR_MS if ship_by is None else ship_by),
            promised_delivery_at=iso_ms(at + 3 * DAY_MS if promised is None else promised),
            units=1,
        )

    def feedback(self, order_id: str, at: int, rating: int, **kw: Any) -> AnyEvent:
        return self.make("feedback_received", at, order_id=order_id, rating=rating, **kw)

    def cancelled(self, order_id: str, at: int, by: str, **kw: Any) -> AnyEvent:
        return self.make("order_cancelled", at, order_id=order_id, cancelled_by=by,
                         reason="test", **kw)

    def shipped(self, order_id: str, at: int, **kw: Any) -> AnyEvent:
        return self.make("shipment_confirmed", at, order_id=order_id, carrier="UPS",
                         tracking_number="1Z", **kw)

    def message(self, message_id: str, at: int, *, needs_reply: bool = True,
                **kw: Any) -> AnyEvent:
        return self.make("message_received", at, message_id=message_id, order_id=None,
                         needs_reply=needs_reply, **kw)

    def step(self, type_: str, at: int, **fields: Any) -> AnyEvent:
        """Alias of `make` for table-driven steps."""
        return self.make(type_, at, **fields)


@pytest.fixture
def ev() -> Events:
    """An event factory for seller s1."""
    return Events()


def amazon_unfiltered() -> TargetProfile:
    """The shipped amazon-us profile's rates over every marketplace and channel, on UTC
    days: the engine's mechanics are pinned with it; the profile's filters and calendar
    are pinned in tests/test_dimensions.py (issue 17)."""
    import tomllib

    from streams.core.targets import PROFILES_DIR

    data = tomllib.loads((PROFILES_DIR / "amazon-us.toml").read_text(encoding="utf-8"))
    data.pop("calendar", None)
    for spec in data["entries"].values():
        spec.pop("marketplace", None)
        spec.pop("channel", None)
    return parse_profile(data)


@pytest.fixture(scope="session")
def amazon() -> TargetProfile:
    """amazon-us over every marketplace and channel, on UTC days (`amazon_unfiltered`)."""
    return amazon_unfiltered()


def entry_spec(
    metric: str, window_days: int = 60, *, direction: str = "below", target: float = 0.5,
    warning_margin: float = 0.0, min_sample: int = 1, min_numerator: int = 0,
    hysteresis: float = 0.0, lag_days: int = 0, versions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A profile entry as parsed TOML, with permissive defaults."""
    return {
        "metric": metric,
        "window_days": window_days,
        "lag_days": lag_days,
        "direction": direction,
        "min_sample": min_sample,
        "min_numerator": min_numerator,
        "hysteresis": hysteresis,
        "versions": versions
        or [{"since": date(2019, 1, 1), "target": target, "warning_margin": warning_margin}],
    }


ProfileOf = Callable[..., TargetProfile]


@pytest.fixture
def profile_of() -> ProfileOf:
    """profile_of(name=entry_spec(...), ...) -> a TargetProfile named "test"."""

    def build(**entries: dict[str, Any]) -> TargetProfile:
        return parse_profile({"name": "test", "entries": entries})

    return build


@pytest.fixture
def entry() -> Callable[..., dict[str, Any]]:
    """entry(metric, window_days, ...) -> one profile entry spec (see entry_spec)."""
    return entry_spec
