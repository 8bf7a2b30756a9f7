"""The worker's settings from the environment: values, errors, and the README's table."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from streams.kafka.settings import Settings, SettingsError


def test_values_are_converted_to_the_field_types() -> None:
    s = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "h:1", "SELLERPERF_PARTITIONS": "8",
                           "SELLERPERF_BATCH_WITHIN_S": "0.5", "SELLERPERF_DATA_DIR": "/x",
                           "SELLERPERF_EVICT": "settled"})
    assert (s.bootstrap_servers, s.partitions, s.batch_within_s, str(s.data_dir),
            s.evict) == ("h:1", 8, 0.5, "/x", "settled")
    assert (Settings.from_env({}).evict, Settings.from_env({}).consume) == ("all", "fetch")


@pytest.mark.parametrize(("name", "raw", "expected"), [
    ("SELLERPERF_PARTITIONS", "four", "an integer"),
    ("SELLERPERF_BATCH_WITHIN_S", "soon", "a number"),
    ("SELLERPERF_EVICT", "some", "'none' or 'settled' or 'all'"),
    ("SELLERPERF_CONSUME", "poll", "'stream' or 'fetch'"),
])
def test_a_bad_value_names_the_variable_the_value_and_what_was_expected(
    name: str, raw: str, expected: str,
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: raw})
    message = str(caught.value)
    assert name in message and repr(raw) in message and expected in message


def test_the_readme_lists_every_setting() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme[readme.index("### Settings (environment)"):]
    table = table[:table.index("\n### ", 10)]
    named = set(re.findall(r"`SELLERPERF_([A-Z_]+)`", table))
    # "/ `_SHIPMENTS`" after `SELLERPERF_TOPIC_ORDERS` is SELLERPERF_TOPIC_SHIPMENTS;
    # "/ `_WEB_PORT`" after `SELLERPERF_WEB_HOST` is SELLERPERF_WEB_PORT.
    for row in table.splitlines():
        first = re.search(r"`SELLERPERF_([A-Z]+)_", row)
        if first:
            for suffix in re.findall(r"`(_[A-Z_]+)`", row):
                named |= {first.group(1) + suffix, suffix[1:]}
    missing = {f.name.upper() for f in fields(Settings)} - named - {"BOOTSTRAP_SERVERS"}
    assert not missing, f"settings missing from the README's table: {sorted(missing)}"
