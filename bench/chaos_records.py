"""The records of a chaos run: a simulated log with duplicates, malformed records of every
kind and one topic stalled within the lateness, cut into the steps of the fault schedule."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from streams.kafka.client import topic_for
from streams.kafka.settings import Settings
from streams.offline.simulate import SimulationConfig, iter_ndjson

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Produced:
    """One record to produce."""

    topic: str
    """Input topic."""
    key: bytes | None
    """Message key."""
    value: bytes
    """Message value."""
    kind: str = ""
    """The kind of malformed record ("" for a valid event, "duplicate" for a copy of one)."""


MALFORMED: dict[str, str] = {
    "not_json": "not_json",
    "empty_value": "not_json",
    "non_utf8_value": "not_json",
    "oversized": "not_json",
    "json_array": "schema",
    "json_string": "schema",
    "wrong_type_field": "schema",
    "bad_event_time": "schema",
    "missing_field": "schema",
    "bad_seller_id": "schema",
    "unknown_type": "unknown_type",
    "missing_type": "unknown_type",
    "missing_key": "missing_key",
    "empty_key": "missing_key",
    "key_mismatch": "key_mismatch",
    "non_utf8_key": "key_mismatch",
}
"""Each kind of malformed record and the dead-letter reason it must get."""
KEY_KINDS = frozenset(("missing_key", "empty_key", "key_mismatch", "non_utf8_key"))
"""The kinds whose value is a valid event: only the message key is wrong."""


def malformed(kind: str, n: int, seller: str, when: str, oversized_bytes: int) -> tuple[
    bytes | None, bytes
]:
    """(key, value) of the n-th malformed record of a kind, for a seller at an event time."""
    key: bytes | None = seller.encode()
    head = (f'{{"event_id":"bad-{kind}-{n}","event_time":"{when}","seller_id":"{seller}",'
            f'"order_id":"bad-{n}"').encode()
    good = head + b',"type":"delivered"}'
    value = {
        "not_json": head + b",,,",
        "empty_value": b"",
        "non_utf8_value": head + b',"type":"delivered","note":"\xff\xfe\xc3("}',
        "oversized": head + b',"type":"delivered","junk":"' + b"x" * oversized_bytes,
        "json_array": b"[" + good + b"]",
        "json_string": orjson.dumps(good.decode()),
        "wrong_type_field": head + b',"type":"order_placed","marketplace":"US",'
                            b'"channel":"seller","expected_ship_at":"' + when.encode()
                            + b'","promised_delivery_at":"' + when.encode()
                            + b'","units":"three"}',
        "bad_event_time": good.replace(when.encode(), b"yesterday"),
        "missing_field": good.replace(f',"order_id":"bad-{n}"'.encode(), b""),
        "bad_seller_id": good.replace(seller.encode(), b"bad seller"),
        "unknown_type": head + b',"type":"order_teleported"}',
        "missing_type": head + b"}",
        "missing_key": good,
        "empty_key": good,
        "key_mismatch": good,
        "non_utf8_key": good,
    }[kind]
    if kind == "bad_seller_id":
        key = b"bad seller"
    elif kind == "missing_key":
        key = None
    elif kind == "empty_key":
        key = b""
    elif kind == "key_mismatch":
        key = b"Z" + seller.encode()
    elif kind == "non_utf8_key":
        key = b"\xff" + seller.encode()
    return key, value


@dataclass(slots=True)
class Log:
    """The records of a run, step by step."""

    steps: list[list[Produced]]
    """The records each step of the schedule produces, in order."""
    stall_step: int
    """The step that produces the stalled topic's held-back records (after a pause)."""
    stalled_topic: str
    """The topic held back."""
    stalled_records: int = 0
    """How many of its records were held back."""
    counts: dict[str, int] = field(default_factory=dict)
    """Records by kind ("valid", "duplicate", each malformed kind)."""

    def replayed(self) -> list[bytes]:
        """What `sellerperf replay` reads: every value produced, in order, but those whose
        fault is in the key (a file has no keys)."""
        return [r.value for step in self.steps for r in step if r.kind not in KEY_KINDS]


def build(settings: Settings, sim: SimulationConfig, seed: int, steps: int,
          duplicate_ratio: float, malformed_each: int, oversized_bytes: int,
          stall_hours: float, stall_at: float = 0.6) -> Log:
    """The log of a run: `steps` parts, plus one for the held-back records of the stalled
    topic (messages), which hold `stall_hours` of event time ending at `stall_at` of the
    history; duplicates close behind their original (same step); `malformed_each` records
    of every malformed kind but one oversized record, at random places."""
    rng = random.Random(seed)
    events = []
    for line in iter_ndjson(sim):
        line = line.rstrip(b"\n")
        doc = orjson.loads(line)
        events.append((topic_for(doc["type"], settings), doc["seller_id"], doc["event_time"],
                       line))
    stall_end = events[int(len(events) * stall_at)][2]
    stall_end_ms = _ms(stall_end)
    stalled = settings.topic_messages
    held = [e for e in events if e[0] == stalled
            and stall_end_ms - stall_hours * HOUR_MS <= _ms(e[2]) < stall_end_ms]
    held_ids = {id(e) for e in held}
    before = [e for e in events if _ms(e[2]) < stall_end_ms and id(e) not in held_ids]
    after = [e for e in events if _ms(e[2]) >= stall_end_ms]
    # The steps before the stall, the held-back records, the steps after it.
    n_before = max(1, round(steps * stall_at))
    parts = [*_split(before, n_before), held, *_split(after, max(1, steps - n_before))]
    out: list[list[Produced]] = []
    counts = {"valid": len(events), "duplicate": 0}
    for part in parts:
        records = [Produced(t, s.encode(), v) for t, s, _, v in part]
        copies: dict[int, list[Produced]] = {}
        for i, r in enumerate(records):
            if rng.random() < duplicate_ratio:
                at = min(len(records) - 1, i + rng.randint(1, 30))
                copies.setdefault(at, []).append(Produced(r.topic, r.key, r.value, "duplicate"))
                counts["duplicate"] += 1
        out.append([x for i, r in enumerate(records) for x in [r, *copies.get(i, [])]])
    stall_step = n_before
    sellers = sorted({s for _, s, _, _ in events})
    n = 0
    for kind in MALFORMED:
        for _ in range(1 if kind == "oversized" else malformed_each):
            step = rng.choice([i for i in range(len(out)) if i != stall_step and out[i]])
            at = rng.randrange(len(out[step]))
            near = out[step][at]
            when = orjson.loads(near.value)["event_time"] if near.kind in ("", "duplicate") \
                else stall_end
            key, value = malformed(kind, n, rng.choice(sellers), when, oversized_bytes)
            topic = rng.choice(settings.input_topics)
            out[step].insert(at, Produced(topic, key, value, kind))
            counts[kind] = counts.get(kind, 0) + 1
            n += 1
    return Log(out, stall_step, stalled, len(held), counts)


def _ms(when: str) -> int:
    return int(datetime.fromisoformat(when).timestamp() * 1000)


def _split(items: list[Any], n: int) -> list[list[Any]]:
    size = -(-len(items) // n) if items else 1
    return [items[i:i + size] for i in range(0, n * size, size)]
