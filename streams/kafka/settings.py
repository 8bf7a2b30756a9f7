"""The worker's configuration: one frozen object, built from the environment at start-up."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from streams.errors import SellerPerfError

PREFIX = "SELLERPERF_"
CONSUME_MODES = ("stream", "fetch")
EVICT_MODES = ("none", "settled", "all")
METRICS_AUTH_MODES = ("none", "token")


class SettingsError(SellerPerfError):
    """An environment variable has a value the worker cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the Kafka layer needs; the engine takes plain arguments instead."""

    bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka brokers (KAFKA_BOOTSTRAP_SERVERS)."""
    app_id: str = "sellerperf"
    """Consumer group and prefix of the internal topics."""
    topic_orders: str = "orders"
    """Input topic of order events."""
    topic_shipments: str = "shipments"
    """Input topic of shipment events."""
    topic_messages: str = "messages"
    """Input topic of buyer-message events."""
    topic_refunds: str = "refunds"
    """Input topic of return and refund events."""
    topic_alerts: str = "seller-alerts"
    """Output: alerts, keyed by seller."""
    topic_metrics: str = "seller-metrics"
    """Output: compacted per-seller rate snapshots."""
    topic_dead_letters: str = "seller-events-dead-letter"
    """Output: inputs that could not be used, with the reason."""
    partitions: int = 4
    """Partitions of every topic (inputs must be co-partitioned)."""
    replication_factor: int = 1
    """Replication of the topics this project creates."""
    store: str = "rocksdb://"
    """Faust table store: rocksdb:// or memory://."""
    standby_replicas: int = 1
    """Standby copies of each table partition on other workers."""
    data_dir: Path = Path(".state")
    """Where the worker keeps its local state (RocksDB)."""
    target_profile: str = "amazon-us"
    """Target profile name (deploy/targets) or path."""
    allowed_lateness_ms: int = 60_000
    """How late in event time an event may arrive and still count."""
    web_host: str = "127.0.0.1"
    """Interface of the worker's web server."""
    web_port: int = 6066
    """Port of the worker's web server."""
    web_bind: str = ""
    """Interface to listen on, if not web_host (e.g. 0.0.0.0 in a container)."""
    batch_size: int = 2000
    """Most events processed as one batch."""
    batch_within_s: float = 0.05
    """Longest wait to fill a batch (consume=stream)."""
    consume: str = "fetch"
    """How input records reach the agent: "fetch" (a whole fetch at a time) or "stream"
    (a Faust stream, one message at a time; half as fast). Both through the delivery loop
    of streams.kafka.fetching."""
    snapshot_interval_s: float = 1.0
    """Publish the snapshots of changed sellers at most this often per partition."""
    snapshot_backlog_interval_s: float = 10.0
    """The same while an input of the partition has a backlog (catching up)."""
    idle_flush_s: float = 5.0
    """Once every input of a partition is read to the end and nothing came for this long,
    apply the events the allowed lateness still holds back."""
    evict: str = "all"
    """Which open orders, messages and returns leave memory after each batch for the
    table's store, read back on their next event, deadline or retention: "all" (every
    one: least memory, a store read for most events, ~10 % more CPU than "settled" at the
    same rate), "settled" (those waiting for no deadline), or "none"."""
    trim_interval_s: float = 30.0
    """Hand the memory the worker freed back to the operating system this often (glibc's
    malloc_trim; 0: never)."""
    max_pending: int = 50_000
    """Events held back per partition before topics read ahead are paused."""
    security_protocol: str = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
    sasl_mechanism: str = "PLAIN"
    """PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."""
    sasl_username: str = ""
    """SASL user."""
    sasl_password: str = ""
    """SASL password."""
    ssl_cafile: str = ""
    """CA bundle for SSL."""
    log_level: str = "info"
    """Worker log level."""
    max_future_skew_s: float = 300.0
    """An event whose event_time is more than this ahead of the wall clock is dead-lettered
    with reason `future` and moves no clock (a producer with a broken clock)."""
    live_window_s: float = 86_400.0
    """The data is live when the newest event seen is within this of the wall clock; then
    a partition whose inputs are all read follows the wall clock less the lateness, so its
    deadlines fire with no traffic. Older data (a backfill) keeps its event-time clock."""
    http_token: str = ""
    """Bearer token (`Authorization: Bearer <token>`) that the seller view (/sellers/<id>)
    and the detailed /health (which shows input offsets) require; empty: no
    authentication. /health/live and /health/ready never need it, /metrics only with
    metrics_auth="token". Compared in constant time; printable ASCII, no spaces."""
    metrics_auth: str = "none"
    """Who may read /metrics: "none" (any scraper) or "token" (the http_token too, which
    Prometheus sends with `authorization: {credentials_file: ...}`)."""
    http_idle_timeout_s: float = 15.0
    """Close a web connection that has not sent a complete request for this long: an idle
    keep-alive connection, or a client still sending its request line and headers."""
    dead_letter_max_value_bytes: int = 256 * 1024
    """Original bytes of a bad input a dead letter keeps; beyond it, a prefix with the
    original's size and SHA-256. Base64 adds a third: keep 4/3 of it plus ~4 KiB under the
    dead-letter topic's max.message.bytes (1 MiB by default)."""
    fail_at: str = ""
    """For tests only: "<stage>:<n>" makes the n-th batch (from 1) fail at that stage
    (compute, publish, state or ack), as a crash of the batch path would. Read once at
    start-up; empty: never."""

    @property
    def input_topics(self) -> tuple[str, str, str, str]:
        """The four co-partitioned input topics."""
        return (self.topic_orders, self.topic_shipments, self.topic_messages, self.topic_refunds)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build from SELLERPERF_<FIELD> variables (and KAFKA_BOOTSTRAP_SERVERS)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if "KAFKA_BOOTSTRAP_SERVERS" in env:
            values["bootstrap_servers"] = env["KAFKA_BOOTSTRAP_SERVERS"]
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            if name in env:
                values[f.name] = _convert(name, env[name], type(getattr(cls(), f.name)))
        if "fail_at" in values:
            fail_stage(values["fail_at"])  # a malformed value fails here, at start-up
        if values.get("dead_letter_max_value_bytes", 3) < 3:
            raise SettingsError(f"{PREFIX}DEAD_LETTER_MAX_VALUE_BYTES: got "
                                f"{values['dead_letter_max_value_bytes']}; expected at least 3")
        for name, allowed in (("consume", CONSUME_MODES), ("evict", EVICT_MODES),
                              ("metrics_auth", METRICS_AUTH_MODES)):
            if name in values and values[name] not in allowed:
                raise SettingsError(
                    f"{PREFIX}{name.upper()}: got {values[name]!r}; expected "
                    + " or ".join(repr(a) for a in allowed))
        _check_http(values, env)
        return cls(**values)


def _check_http(values: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """The web server's settings make sense together."""
    token = values.get("http_token", "")
    if any(not 0x21 <= ord(c) <= 0x7E for c in token):
        raise SettingsError(f"{PREFIX}HTTP_TOKEN: got a token with a space or a character "
                            f"outside printable ASCII; expected printable ASCII, no spaces")
    if values.get("metrics_auth") == "token" and not token:
        raise SettingsError(f"{PREFIX}METRICS_AUTH: got 'token' while {PREFIX}HTTP_TOKEN is "
                            f"empty; expected a token to require, or 'none'")
    idle = values.get("http_idle_timeout_s", 1.0)
    if not (math.isfinite(idle) and idle > 0):
        raise SettingsError(f"{PREFIX}HTTP_IDLE_TIMEOUT_S: got "
                            f"{env[PREFIX + 'HTTP_IDLE_TIMEOUT_S']!r}; expected a number of "
                            f"seconds above 0")


FAIL_STAGES = ("compute", "publish", "state", "ack")
"""The stages of a batch where SELLERPERF_FAIL_AT can inject a failure (tests only)."""


def fail_stage(value: str) -> tuple[str, int] | None:
    """(stage, n) of a SELLERPERF_FAIL_AT value; None when empty."""
    if not value:
        return None
    stage, _, n = value.partition(":")
    if stage not in FAIL_STAGES or not n.isdigit() or int(n) < 1:
        raise SettingsError(f"{PREFIX}FAIL_AT: got {value!r}; expected <stage>:<n> with stage "
                            f"one of {', '.join(FAIL_STAGES)} and n >= 1 (tests only)")
    return stage, int(n)


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(raw)
        return raw
    except ValueError:
        raise SettingsError(
            f"{name}: got {raw!r}; expected {'an integer' if kind is int else 'a number'}"
        ) from None
