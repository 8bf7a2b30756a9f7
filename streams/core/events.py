"""Input event types, decoded and validated in one pass by msgspec.

These structs are the contract: `schemas/events/*.json` is generated from
them (`sellerperf schemas`), and a test checks that the generated JSON
Schema and this decoder accept and reject the same documents.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args, get_type_hints

import msgspec
import orjson

from streams.errors import InvalidEvent

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128, description="An identifier")]
SellerId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$(?!\n)",
        description="Seller identifier: 1-64 of A-Z a-z 0-9 _ . : - (not starting with a symbol)",
    ),
]
Marketplace = Annotated[str, msgspec.Meta(min_length=1, max_length=16,
                                          description="Marketplace code, e.g. US")]
Channel = Literal["seller", "marketplace"]
Timestamp = Annotated[
    datetime, msgspec.Meta(tz=True, description="RFC 3339 date-time with an offset (UTC)")
]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields common to every event."""

    event_id: Id
    """Unique id of the event; a redelivered event keeps its id."""
    event_time: Timestamp
    """When it happened (event time, not arrival time)."""
    seller_id: SellerId
    """The seller the event belongs to; also the Kafka message key."""


class OrderEvent(Event, frozen=True, kw_only=True):
    """An event about one order."""

    order_id: Id
    """The order, unique within the seller."""


# -- topic "orders" ---------------------------------------------------------


class OrderPlaced(OrderEvent, frozen=True, kw_only=True, tag="order_placed"):
    """A buyer placed an order; its placed time is the event time."""

    marketplace: Marketplace
    """Marketplace code, e.g. US: the rates of a profile entry filtered on a marketplace
    count its orders only, on its calendar's local days (deploy/calendars)."""
    channel: Channel
    """Who fulfils it: the seller, or the marketplace (FBA)."""
    expected_ship_at: Timestamp
    """Latest time the seller should confirm shipment."""
    promised_delivery_at: Timestamp
    """Delivery time promised to the buyer. A date-only promise is sent as local midnight
    of the marketplace's time zone (e.g. 2026-03-05T00:00:00-08:00 for a US order promised
    for 5 March) and means the end of that local day."""
    units: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    """Number of units ordered, 1 to 1,000,000."""


class OrderCancelled(OrderEvent, frozen=True, kw_only=True, tag="order_cancelled"):
    """The order was cancelled."""

    cancelled_by: Literal["seller", "buyer", "system"]
    """Who cancelled; system means an automatic cancel for an unconfirmed shipment."""
    reason: Annotated[str, msgspec.Meta(max_length=256)]
    """Free-text reason."""


class FeedbackReceived(OrderEvent, frozen=True, kw_only=True, tag="feedback_received"):
    """The buyer left (or changed) seller feedback."""

    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    """Stars, 1 to 5; 1 and 2 are negative."""


class FeedbackRemoved(OrderEvent, frozen=True, kw_only=True, tag="feedback_removed"):
    """The order's feedback was removed."""


class ClaimFiled(OrderEvent, frozen=True, kw_only=True, tag="claim_filed"):
    """The buyer filed an A-to-z Guarantee claim."""

    claim_id: Id
    """The claim."""


class ClaimDecided(OrderEvent, frozen=True, kw_only=True, tag="claim_decided"):
    """A claim was decided (or re-decided on appeal)."""

    claim_id: Id
    """The claim."""
    decision: Literal["granted", "denied", "withdrawn"]
    """The outcome; denied and withdrawn claims stop counting as defects."""
    seller_at_fault: bool
    """Whether the seller was found responsible."""


class ChargebackFiled(OrderEvent, frozen=True, kw_only=True, tag="chargeback_filed"):
    """A payment chargeback was filed."""

    chargeback_id: Id
    """The chargeback."""


class ChargebackReversed(OrderEvent, frozen=True, kw_only=True, tag="chargeback_reversed"):
    """A chargeback was reversed in the seller's favour."""

    chargeback_id: Id
    """The chargeback."""


# -- topic "shipments" ------------------------------------------------------


class ShipmentConfirmed(OrderEvent, frozen=True, kw_only=True, tag="shipment_confirmed"):
    """The seller confirmed shipment."""

    carrier: Annotated[str, msgspec.Meta(max_length=64)]
    """Carrier name."""
    tracking_number: Annotated[str, msgspec.Meta(max_length=128)] | None
    """Tracking number as entered, if any."""


class TrackingValidated(OrderEvent, frozen=True, kw_only=True, tag="tracking_validated"):
    """The carrier's first scan was seen: the tracking number is valid."""


class Delivered(OrderEvent, frozen=True, kw_only=True, tag="delivered"):
    """The carrier delivered the order."""


# -- topic "messages" -------------------------------------------------------


class MessageReceived(Event, frozen=True, kw_only=True, tag="message_received"):
    """A buyer sent the seller a message."""

    message_id: Id
    """The message, unique within the seller."""
    order_id: Id | None = None
    """The order it is about, if any."""
    needs_reply: bool
    """Whether the message needs a reply (counts for contact response time)."""
    marketplace: Marketplace | None = None
    """Marketplace of the conversation (optional, added in schema 2): without it the
    message counts only in rates not filtered on a marketplace."""
    channel: Channel | None = None
    """Channel of the order it is about (optional, added in schema 2): without it the
    message counts only in rates not filtered on a channel."""


class SellerReplied(Event, frozen=True, kw_only=True, tag="seller_replied"):
    """The seller replied to a buyer message."""

    message_id: Id
    """The message replied to."""


# -- topic "refunds" --------------------------------------------------------


class ReturnEvent(Event, frozen=True, kw_only=True):
    """An event about one return request."""

    return_id: Id
    """The return, unique within the seller."""


class ReturnRequested(ReturnEvent, frozen=True, kw_only=True, tag="return_requested"):
    """The buyer asked to return an order."""

    order_id: Id
    """The order being returned."""
    marketplace: Marketplace | None = None
    """Marketplace of the returned order (optional, added in schema 2): without it the
    return counts only in rates not filtered on a marketplace."""
    channel: Channel | None = None
    """Channel of the returned order (optional, added in schema 2): without it the return
    counts only in rates not filtered on a channel."""


class ReturnAuthorised(ReturnEvent, frozen=True, kw_only=True, tag="return_authorised"):
    """The seller authorised the return."""


class ReturnRejected(ReturnEvent, frozen=True, kw_only=True, tag="return_rejected"):
    """The seller rejected the return."""

    within_policy: bool
    """Whether the rejection was allowed by the return policy."""


class ReturnReceived(ReturnEvent, frozen=True, kw_only=True, tag="return_received"):
    """The returned item reached the seller."""


class RefundIssued(ReturnEvent, frozen=True, kw_only=True, tag="refund_issued"):
    """The seller refunded the buyer."""


class ReturnFeedback(ReturnEvent, frozen=True, kw_only=True, tag="return_feedback"):
    """The buyer rated how the return was handled."""

    satisfied: bool
    """False is a negative return outcome."""


AnyEvent: TypeAlias = (
    OrderPlaced
    | OrderCancelled
    | FeedbackReceived
    | FeedbackRemoved
    | ClaimFiled
    | ClaimDecided
    | ChargebackFiled
    | ChargebackReversed
    | ShipmentConfirmed
    | TrackingValidated
    | Delivered
    | MessageReceived
    | SellerReplied
    | ReturnRequested
    | ReturnAuthorised
    | ReturnRejected
    | ReturnReceived
    | RefundIssued
    | ReturnFeedback
)

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.__struct_config__.tag: cls for cls in get_args(AnyEvent)
}

TOPICS: Final[dict[str, tuple[str, ...]]] = {
    "orders": (
        "order_placed",
        "order_cancelled",
        "feedback_received",
        "feedback_removed",
        "claim_filed",
        "claim_decided",
        "chargeback_filed",
        "chargeback_reversed",
    ),
    "shipments": ("shipment_confirmed", "tracking_validated", "delivered"),
    "messages": ("message_received", "seller_replied"),
    "refunds": (
        "return_requested",
        "return_authorised",
        "return_rejected",
        "return_received",
        "refund_issued",
        "return_feedback",
    ),
}
TOPIC_OF: Final[dict[str, str]] = {t: topic for topic, types in TOPICS.items() for t in types}

_decoder: Final[msgspec.json.Decoder[AnyEvent]] = msgspec.json.Decoder(AnyEvent)
_encoder: Final = msgspec.json.Encoder()


def decode_event(raw: bytes | str) -> AnyEvent:
    """Decode and validate one JSON event, or raise InvalidEvent saying why."""
    if isinstance(raw, bytes) and not raw.isascii():
        # JSON text is UTF-8 (RFC 8259), and msgspec does not look inside strings of fields
        # it skips: a value with bad bytes there would pass as an event.
        try:
            raw.decode()
        except UnicodeDecodeError as exc:
            raise InvalidEvent("not_json", f"not valid UTF-8 at byte {exc.start}: "
                               f"{raw[exc.start:exc.start + 4]!r}; expected JSON text in "
                               "UTF-8") from None
    try:
        return _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _explain_validation(str(exc), raw) from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent("not_json", f"not valid JSON: {exc}") from None


def encode_event(event: Event) -> bytes:
    """The canonical JSON encoding of an event."""
    return _encoder.encode(event)


def event_time_ms(event: Event) -> int:
    """The event time in integer milliseconds since the epoch (UTC)."""
    return datetime_ms(event.event_time)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)


def datetime_ms(t: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime, rounded down (also before 1970,
    where `int(t.timestamp())` would round toward zero, a second late)."""
    seconds = t.timestamp()
    if seconds >= 0:
        return int(seconds) * 1000 + t.microsecond // 1000
    return (t - _EPOCH) // _ONE_MS


def _explain_validation(detail: str, raw: bytes | str) -> InvalidEvent:
    """Turn msgspec's message into one naming the field, the value and the expectation."""
    what, _, path = detail.partition(" - at `")
    path = path.rstrip("`")
    field = path[2:] if path.startswith("$.") else None
    if "missing required field" in what:
        missing = what.split("`")[1]
        if field:
            missing = f"{field}.{missing}"
        reason = "unknown_type" if missing == "type" else "schema"
        return InvalidEvent(reason, f"field `{missing}` is missing (it is required)", missing)
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict) or field is None:
        got = type(doc).__name__ if doc is not None else "null"
        return InvalidEvent("schema", f"expected a JSON object, got {got}")
    shown = orjson.dumps(_lookup(doc, field)).decode()[:80]
    if field == "type":
        known = ", ".join(sorted(EVENT_TYPES))
        return InvalidEvent(
            "unknown_type", f"field `type`: got {shown}, expected one of: {known}", "type"
        )
    return InvalidEvent(
        "schema", f"field `{field}`: got {shown}; expected {_expected(what, doc, field)}", field
    )


def _expected(what: str, doc: dict[str, Any], field: str) -> str:
    """What the schema wanted at a field, in words."""
    if what.startswith("Expected "):
        return what[len("Expected ") :]
    if "RFC3339" in what:
        return "an RFC 3339 date-time with an offset, such as 2026-01-05T12:00:00Z"
    cls = EVENT_TYPES.get(str(doc.get("type")))
    if cls is not None and "enum value" in what:
        hint = get_type_hints(cls).get(field)
        allowed = [a for a in get_args(hint) if isinstance(a, str)]
        if allowed:
            return "one of " + ", ".join(repr(a) for a in allowed)
    return what[0].lower() + what[1:]


def _lookup(doc: Any, field: str) -> Any:
    """The value at a dotted msgspec path such as `a.b[0]`, or None."""
    node = doc
    for part in field.replace("[", ".[").split("."):
        if part.startswith("[") and isinstance(node, list):
            node = node[int(part[1:-1])]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node
