"""The JSON Schemas are generated from the structs, valid, and agree with the decoder."""

from __future__ import annotations

import json
import re
import string
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from streams.core.alerts import Alert
from streams.core.events import EVENT_TYPES, TOPIC_OF, TOPICS, decode_event, encode_event
from streams.core.outputs import DeadLetter, RateValue, SellerSnapshot
from streams.errors import InvalidEvent
from streams.offline.schemas import check, generate, main, render, write

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "schemas"
EXAMPLES = REPO / "examples" / "events.ndjson"
Doc = dict[str, Any]

# -- a strict RFC 3339 date-time format checker ----------------------------------------
# jsonschema checks `date-time` only when the rfc3339-validator package is installed, and
# it is not (a missing checker silently accepts everything). So the tests register their
# own, written from RFC 3339 section 5.6: ASCII digits, T/t, Z/z or +hh:mm/-hh:mm, a real
# calendar day, second 60 allowed (leap second), year 0000 allowed.

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"
)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_rfc3339_date_time(value: object) -> bool:
    """True for an RFC 3339 date-time (formats only constrain strings)."""
    if not isinstance(value, str):
        return True
    match = _RFC3339.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    off_hour, off_minute = (int(g or 0) for g in match.groups()[6:])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= month <= 12:
        return False
    days = 29 if month == 2 and leap else _DAYS[month - 1]
    return (
        1 <= day <= days
        and hour < 24
        and minute < 60
        and second <= 60
        and (off_hour < 24 and off_minute < 60)
    )


FORMATS = FormatChecker(list(Draft202012Validator.FORMAT_CHECKER.checkers))
FORMATS.checks("date-time")(is_rfc3339_date_time)


@cache
def schema(rel: str) -> Doc:
    """A committed schema file."""
    loaded: Doc = json.loads((SCHEMAS / rel).read_text(encoding="utf-8"))
    return loaded


@cache
def validator(rel: str) -> Draft202012Validator:
    """A format-checking validator for a committed schema."""
    return Draft202012Validator(schema(rel), format_checker=FORMATS)


def schema_accepts(raw: bytes, rel: str = "event.json") -> bool:
    """Whether the JSON text is valid against a committed schema."""
    return bool(validator(rel).is_valid(json.loads(raw)))


def decoder_accepts(raw: bytes) -> bool:
    """Whether decode_event takes the JSON text (it may only raise InvalidEvent)."""
    try:
        decode_event(raw)
    except InvalidEvent:
        return False
    return True


def dumps(doc: Any) -> bytes:
    """JSON text of a document, as a producer would send it."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False).encode()


def example_events() -> list[Doc]:
    """The parsed lines of examples/events.ndjson."""
    lines = EXAMPLES.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


EXAMPLES_BY_TYPE: dict[str, Doc] = {doc["type"]: doc for doc in example_events()}


def committed_files() -> list[str]:
    """Relative paths of the committed schema files."""
    return sorted(p.relative_to(SCHEMAS).as_posix() for p in SCHEMAS.rglob("*.json"))


# -- the committed files are the generated ones, and valid ------------------------------


def test_committed_schema_files_equal_the_generated_ones() -> None:
    stale = check(SCHEMAS)
    assert stale == [], f"stale schema files {stale}: run `python -m streams.offline.schemas`"


def test_every_event_type_topic_and_output_has_a_committed_schema() -> None:
    expected = {f"events/{t}.json" for t in EVENT_TYPES} | {f"topics/{t}.json" for t in TOPICS}
    expected |= {"event.json", "outputs/alert.json", "outputs/seller_snapshot.json"}
    expected |= {"outputs/dead_letter.json"}
    assert set(committed_files()) == expected


@pytest.mark.parametrize("rel", committed_files())
def test_every_committed_schema_is_valid_draft_2020_12_with_id_and_title(rel: str) -> None:
    doc = schema(rel)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == f"https://sellerperf.example/schemas/{rel}"
    assert doc["title"] and doc["description"]


def test_field_descriptions_come_from_the_attribute_docstrings() -> None:
    props = schema("events/order_placed.json")["properties"]
    assert props["units"]["description"] == "Number of units ordered, 1 to 1,000,000."
    assert props["event_id"]["description"].startswith("Unique id of the event")
    assert props["order_id"]["description"] == "The order, unique within the seller."
    rate = schema("outputs/seller_snapshot.json")["$defs"]["RateValue"]["properties"]
    assert rate["value"]["description"].startswith("numerator / denominator")


def test_write_then_check_finds_nothing_and_check_reports_edits_and_stale_files(
    tmp_path: Path,
) -> None:
    assert main(["--check", "--root", str(tmp_path)]) == 1  # nothing written yet
    assert len(write(tmp_path)) == len(generate())
    assert check(tmp_path) == [] and main(["--check", "--root", str(tmp_path)]) == 0
    assert write(tmp_path) == []  # unchanged files are not rewritten
    (tmp_path / "events/delivered.json").write_text("{}\n")
    (tmp_path / "events/order_shipped.json").write_text("{}\n")
    assert check(tmp_path) == ["events/delivered.json", "events/order_shipped.json"]
    write(tmp_path)
    assert check(tmp_path) == [] and not (tmp_path / "events/order_shipped.json").exists()


def test_rendering_is_canonical_sorted_two_space_indent_trailing_newline() -> None:
    text = render({"b": 1, "a": [{"d": 2, "c": "é"}]})
    assert text == '{\n  "a": [\n    {\n      "c": "é",\n      "d": 2\n    }\n  ],\n  "b": 1\n}\n'


# -- the example file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    EXAMPLES.read_text(encoding="utf-8").splitlines(),
    ids=lambda line: "{event_id}-{type}".format(**json.loads(line)),
)
def test_every_example_validates_against_event_topic_and_type_schema_and_decodes(
    line: str,
) -> None:
    raw = line.encode()
    kind = json.loads(raw)["type"]
    assert schema_accepts(raw, "event.json")
    assert schema_accepts(raw, f"topics/{TOPIC_OF[kind]}.json")
    assert schema_accepts(raw, f"events/{kind}.json")
    event = decode_event(raw)
    assert schema_accepts(encode_event(event))  # the canonical re-encoding is valid too


def test_examples_cover_every_event_type_for_two_sellers_in_event_time_order() -> None:
    docs = example_events()
    assert {d["type"] for d in docs} == set(EVENT_TYPES)
    assert len({d["seller_id"] for d in docs}) == 2
    assert len({d["event_id"] for d in docs}) == len(docs)
    times = [datetime.fromisoformat(d["event_time"]) for d in docs]
    assert times == sorted(times)


def test_a_topic_schema_rejects_an_event_of_another_topic() -> None:
    raw = dumps(EXAMPLES_BY_TYPE["delivered"])
    assert schema_accepts(raw, "topics/shipments.json")
    assert not schema_accepts(raw, "topics/orders.json")


# -- schema and decoder agree -------------------------------------------------------------

EVENT_DEFS: dict[str, Doc] = {
    d["properties"]["type"]["enum"][0]: d for d in schema("event.json")["$defs"].values()
}
# Lone surrogates are excluded: msgspec rejects "\ud800" as malformed JSON while Python's json
# parses it, a JSON-parser difference (RFC 8259 leaves it open) and not a schema one.
CHARS = st.characters(exclude_categories=["Cs"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    # Integral floats are excluded (2.0 for an int field): see the test of that difference.
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()),
    st.text(CHARS, max_size=8),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(CHARS, max_size=5), inner),
    max_leaves=6,
)
INT_EDGES = (-1, 0, 1, 5, 6, 999_999, 1_000_000, 1_000_001, 2**63 - 1, 2**63, 2**64, -(2**63) - 1)
SELLER_CHARS = string.ascii_letters + string.digits + "_.:- /\n\t@éÅ١Ａ"


def fields_where(kind: str, test: Any) -> list[str]:
    """The fields of an event type whose property schema passes the test."""
    return sorted(f for f, p in EVENT_DEFS[kind]["properties"].items() if test(p))


# Spellings of each part of a date-time: (valid ones, invalid ones). Not generated, because
# the decoder accepts them though RFC 3339 does not (see the xfail tests below): a space for
# the T and an offset without its colon (+0100).
DATE_TIME_PARTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("0001", "1970", "2024", "2026", "9999"), ("0000", "26", "+2026")),
    (("-",), ("", "/")),
    (("01", "02", "04", "12"), ("00", "13", "1")),
    (("-",), ("",)),
    (("01", "28", "29", "30", "31"), ("00", "32", "1")),
    (("T", "t"), ("_", "", "TT")),
    (("00:00", "12:30", "23:59"), ("24:00", "12:60", "7:00", "1230")),
    ((":00", ":59"), (":60", ":61", "", ":5")),
    (("", ".5", ".123456", ".9999994", ".9999995", ".999999999"), (".", ",5")),
    (("Z", "z", "+00:00", "-00:00", "+01:00", "-23:59"), ("+24:00", "-05:60", "", "+01", "ZZ")),
    (("",), (" ", "\n", "x")),
)


@st.composite
def date_time_texts(draw: st.DrawFn) -> str:
    """RFC 3339 date-times, half of them with one part misspelt."""
    defect = draw(st.none() | st.integers(0, len(DATE_TIME_PARTS) - 1))
    parts = [
        draw(st.sampled_from(invalid if i == defect else valid))
        for i, (valid, invalid) in enumerate(DATE_TIME_PARTS)
    ]
    if draw(st.integers(0, 19)) == 0:
        parts[0] = parts[0].replace("2", "\uff12")  # a non-ASCII digit
    return "".join(parts)


@st.composite
def mutated_events(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid example event with one mutation applied: (name of the mutation, document)."""
    kind = draw(st.sampled_from(sorted(EXAMPLES_BY_TYPE)))
    doc: Doc = dict(EXAMPLES_BY_TYPE[kind])
    props = EVENT_DEFS[kind]["properties"]
    ints = fields_where(kind, lambda p: p.get("type") == "integer")
    enums = [f for f in fields_where(kind, lambda p: "enum" in p) if f != "type"]
    times = fields_where(kind, lambda p: p.get("format") == "date-time")
    sized = fields_where(kind, lambda p: "maxLength" in p)
    options = ["drop", "retype", "null", "type", "seller_id", "extra", "length"]
    options += ["date_time"] * 3
    options += ["not_object"] + ["int_range"] * bool(ints) + ["enum"] * bool(enums)
    mutation = draw(st.sampled_from(options))
    if mutation == "drop":
        del doc[draw(st.sampled_from(EVENT_DEFS[kind]["required"]))]
    elif mutation == "retype":
        doc[draw(st.sampled_from(sorted(doc)))] = draw(JSON_VALUES)
    elif mutation == "null":
        doc[draw(st.sampled_from(sorted(doc)))] = None
    elif mutation == "int_range":
        edge = st.sampled_from(INT_EDGES) | st.integers(-(2**70), 2**70)
        doc[draw(st.sampled_from(ints))] = draw(edge)
    elif mutation == "enum":
        field = draw(st.sampled_from(enums))
        near = [v.upper() for v in props[field]["enum"]] + [" seller", "fba", ""]
        doc[field] = draw(st.sampled_from(near) | st.text(CHARS, max_size=10))
    elif mutation == "type":
        near = [t.upper() for t in EVENT_TYPES] + ["order_shipped", "Delivered", "delivered "]
        doc["type"] = draw(st.sampled_from(near) | st.text(CHARS, max_size=20))
    elif mutation == "date_time":
        doc[draw(st.sampled_from(times))] = draw(date_time_texts())
    elif mutation == "seller_id":
        doc["seller_id"] = draw(st.text(SELLER_CHARS, max_size=70))
    elif mutation == "extra":
        name = draw(st.text(CHARS, max_size=12).filter(lambda k: k not in props))
        doc[name] = draw(JSON_VALUES)
    elif mutation == "length":
        field = draw(st.sampled_from(sized))
        top = props[field]["maxLength"]
        size = draw(st.sampled_from((0, 1, top - 1, top, top + 1)))
        doc[field] = draw(st.sampled_from(("x", "\U0001f600", "é"))) * size
    else:
        return mutation, draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))
    return mutation, doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_events())
def test_schema_and_decoder_accept_and_reject_the_same_documents(case: tuple[str, Any]) -> None:
    mutation, doc = case
    raw = dumps(doc)
    by_schema, by_decoder = schema_accepts(raw), decoder_accepts(raw)
    assert by_schema == by_decoder, f"{mutation}: schema {by_schema}, decoder {by_decoder}: {raw!r}"
    if mutation == "extra":  # unknown fields are ignored by both (forward compatibility)
        assert by_schema


DATE_TIME_CASES = [
    ("2026-03-01T12:00:00Z", True),
    ("2026-03-01t12:00:00.5z", True),
    ("2026-03-01T12:00:00.123456789-00:00", True),
    ("2024-02-29T00:00:00+23:59", True),
    ("9999-12-31T23:59:59.9999994Z", True),
    ("0001-01-01T00:00:00+01:00", True),
    ("2026-02-29T00:00:00Z", False),
    ("2026-03-01T12:00:00", False),
    ("2026-03-01T12:00Z", False),
    ("2026-03-01T12:00:00+01", False),
    ("2026-03-01T12:00:00Z\n", False),
    ("\uff12026-03-01T12:00:00Z", False),
    # RFC 3339 allows these, the decoder cannot represent them: the schema's pattern excludes.
    ("2016-12-31T23:59:60Z", False),
    ("0000-01-01T00:00:00Z", False),
    ("9999-12-31T23:59:59.9999995Z", False),
    ("9999-12-31t23:59:59.99999999-01:00", False),
]


@pytest.mark.parametrize(("text", "valid"), DATE_TIME_CASES)
def test_schema_and_decoder_agree_on_date_time_edge_cases(text: str, valid: bool) -> None:
    raw = dumps({**EXAMPLES_BY_TYPE["delivered"], "event_time": text})
    assert (schema_accepts(raw), decoder_accepts(raw)) == (valid, valid)


def test_format_checking_is_on_and_rejects_a_date_the_pattern_lets_through() -> None:
    props = schema("events/delivered.json")["properties"]["event_time"]
    assert re.search(props["pattern"], "2026-02-30T00:00:00Z")
    raw = dumps({**EXAMPLES_BY_TYPE["delivered"], "event_time": "2026-02-30T00:00:00Z"})
    assert not schema_accepts(raw)


@pytest.mark.parametrize("text", ["2016-12-31T23:59:60Z", "0000-01-01T00:00:00Z"])
def test_the_pattern_not_the_format_excludes_what_rfc3339_allows_but_the_decoder_cannot(
    text: str,
) -> None:
    assert is_rfc3339_date_time(text)
    props = schema("events/delivered.json")["properties"]["event_time"]
    assert not re.search(props["pattern"], text)


def test_known_difference_integral_float_for_an_int_field() -> None:
    # JSON Schema's data model has one number type: 3.0 *is* the integer 3, so the schema
    # accepts it. The decoder wants an integer literal and rejects 3.0 and 3e0. No schema
    # keyword can tell them apart; producers must write integers without fraction/exponent.
    raw = dumps({**EXAMPLES_BY_TYPE["feedback_received"], "rating": 3.0})
    assert schema_accepts(raw) and not decoder_accepts(raw)


# The decoder is more lenient than the contract in these cases; the fix belongs in
# streams/core/events.py (see the reasons). strict=True: once fixed, these pass and the marker goes.
@pytest.mark.xfail(
    strict=True,
    reason="msgspec's datetime parser accepts a space for T and +hhmm offsets (not RFC 3339)",
)
@pytest.mark.parametrize("text", ["2026-03-01 12:00:00Z", "2026-03-01T12:00:00+0100"])
def test_decoder_rejects_date_times_the_schema_rejects(text: str) -> None:
    raw = dumps({**EXAMPLES_BY_TYPE["delivered"], "event_time": text})
    assert not schema_accepts(raw)
    assert not decoder_accepts(raw)


def test_decoder_rejects_a_seller_id_with_a_trailing_newline() -> None:
    assert not decoder_accepts(dumps({**EXAMPLES_BY_TYPE["delivered"], "seller_id": "S1\n"}))


# -- rejections name the field, the value and the expectation -------------------------------

BAD_INPUTS = [
    ("order_placed", "units", 0, ">= 1"),
    ("order_placed", "units", "two", "int"),
    ("order_placed", "channel", "fba", "'seller'"),
    ("order_placed", "marketplace", "X" * 17, "length <= 16"),
    ("order_placed", "event_time", "2026-02-30T00:00:00Z", "RFC 3339"),
    ("order_placed", "expected_ship_at", "2026-03-03T23:59:59", "timezone"),
    ("order_placed", "seller_id", "-bad", "regex"),
    ("order_placed", "event_id", "", "length >= 1"),
    ("order_cancelled", "cancelled_by", "robot", "'system'"),
    ("feedback_received", "rating", 6, "<= 5"),
    ("claim_decided", "decision", "approved", "'withdrawn'"),
    ("claim_decided", "seller_at_fault", "yes", "bool"),
    ("shipment_confirmed", "tracking_number", 42, "str | null"),
    ("message_received", "needs_reply", None, "bool"),
    ("message_received", "order_id", 7, "str | null"),
    ("return_rejected", "within_policy", 1, "bool"),
    ("delivered", "type", "order_shipped", "one of"),
]


@pytest.mark.parametrize(("kind", "field", "value", "expected"), BAD_INPUTS)
def test_a_rejection_names_the_field_the_value_and_the_expectation(
    kind: str, field: str, value: Any, expected: str
) -> None:
    raw = dumps({**EXAMPLES_BY_TYPE[kind], field: value})
    assert not schema_accepts(raw)
    with pytest.raises(InvalidEvent) as info:
        decode_event(raw)
    message = str(info.value)
    assert info.value.field == field
    assert f"`{field}`" in message and json.dumps(value) in message and expected in message


@pytest.mark.parametrize("field", ["order_id", "type", "event_time"])
def test_a_missing_field_is_named(field: str) -> None:
    doc = dict(EXAMPLES_BY_TYPE["order_placed"])
    del doc[field]
    with pytest.raises(InvalidEvent) as info:
        decode_event(dumps(doc))
    assert info.value.field == field and f"`{field}` is missing" in str(info.value)


# -- outputs ---------------------------------------------------------------------------------


def sample_rate(value: float | None) -> RateValue:
    """A judged rate with sample values."""
    return RateValue(
        metric="late_shipment_rate_10d",
        title="Late shipment rate (10 days)",
        value=value,
        numerator=1 if value else 0,
        denominator=25 if value is not None else 0,
        target=0.04,
        direction="below",
        status="at_risk" if value else "insufficient_data",
        window_days=10,
        lag_days=0,
        window_start="2026-03-01",
        window_end="2026-03-10",
        target_version="2026-01",
        order_ids=["112-0001002"] if value else [],
    )


OUTPUT_SAMPLES: list[tuple[str, msgspec.Struct]] = [
    (
        "outputs/alert.json",
        Alert(
            alert_id="6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
            seller_id="acme-us",
            metric="late_shipment_rate_10d",
            title="Late shipment rate (10 days)",
            status="breach",
            previous_status="at_risk",
            value=0.08,
            numerator=2,
            denominator=25,
            target=0.04,
            direction="below",
            warning_margin=0.01,
            window_days=10,
            lag_days=0,
            window_start="2026-03-01",
            window_end="2026-03-10",
            target_profile="us-standard",
            target_version="2026-01",
            as_of="2026-03-10T12:00:00.000Z",
            order_ids=["112-0001002", "112-0001007"],
            account_health="critical",
        ),
    ),
    (
        "outputs/seller_snapshot.json",
        SellerSnapshot(
            seller_id="acme-us",
            as_of="2026-03-10T12:00:00.000Z",
            target_profile="us-standard",
            account_health="at_risk",
            rates=[sample_rate(0.04), sample_rate(None)],
        ),
    ),
    (
        "outputs/dead_letter.json",
        DeadLetter.of(
            b'{"type": "order_shipped"}',
            "unknown_type",
            'field `type`: got "order_shipped", expected one of: ...',
            "type",
            "orders",
            3,
            1042,
            b"acme-us",
        ),
    ),
]


@pytest.mark.parametrize(("rel", "record"), OUTPUT_SAMPLES)
def test_an_encoded_output_record_validates_against_its_schema(
    rel: str, record: msgspec.Struct
) -> None:
    doc = json.loads(msgspec.json.encode(record))
    validator(rel).validate(doc)
    first_required = schema(rel)["required"][0]
    del doc[first_required]
    assert not validator(rel).is_valid(doc)  # the schema is not vacuous
