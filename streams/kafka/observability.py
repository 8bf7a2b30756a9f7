"""Prometheus metrics of the worker, on a registry passed in; seller detail stays out of labels."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from streams.core.alerts import STATUS_NAMES
from streams.kafka.runtime import Outputs, Runtime

STAGES: Final = ("compute", "publish", "state")
"""The stages of a batch, in order (see WorkerMetrics.stage_seconds)."""
RATE_BUCKETS: Final = (0.005, 0.01, 0.02, 0.025, 0.04, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.97,
                       0.99, 1.0)
"""Upper bounds of the rate histogram: around the usual targets."""


class WorkerMetrics:
    """Counters and histograms the agent updates per batch."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "sellerperf_events_consumed_total", "Valid input events taken, by topic and type",
            ["topic", "type"], registry=registry)
        self.invalid = Counter(
            "sellerperf_invalid_events_total",
            "Input records sent to the dead-letter topic, by reason", ["reason"],
            registry=registry)
        self.too_late = Counter(
            "sellerperf_too_late_events_total",
            "Late events older than the correction horizon: not applied", registry=registry)
        self.late = Counter(
            "sellerperf_late_events_total",
            "Late events (older than the release watermark when they came) applied as "
            "corrections", registry=registry)
        self.alerts = Counter(
            "sellerperf_alerts_emitted_total", "Alerts emitted, by rate and new status",
            ["metric", "status"], registry=registry)
        self.batch_size = Histogram(
            "sellerperf_batch_size_events", "Records per processed batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=registry)
        self.batch_seconds = Histogram(
            "sellerperf_batch_processing_seconds",
            "Time to process one batch, outputs and state writes included",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry)
        self.stage_seconds = Counter(
            "sellerperf_batch_stage_seconds_total",
            "Time spent on batches by stage: compute (the engines), publish (alerts, "
            "snapshots and dead letters sent and acknowledged), state (changelog "
            "acknowledged, local store written)", ["stage"], registry=registry)
        for stage in STAGES:
            self.stage_seconds.labels(stage)
        self.skipped = Counter(
            "sellerperf_redelivered_records_skipped_total",
            "Records already covered by restored state after a restart", registry=registry)
        self.offsets_skipped = Counter(
            "sellerperf_input_offsets_skipped_total",
            "Input offsets never delivered (transaction markers, compaction; otherwise "
            "records lost on the way, which are never counted)", registry=registry)
        for reason in ("not_json", "schema", "unknown_type", "missing_key", "key_mismatch",
                       "too_late", "future"):
            self.invalid.labels(reason)

    def observe(self, out: Outputs, records: int, seconds: float,
                stages: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        """Account for one processed batch (`stages`: seconds per stage, as STAGES)."""
        for (topic, event_type), count in out.taken.items():
            self.events.labels(topic, event_type).inc(count)
        for d in out.dead_letters:
            self.invalid.labels(d.reason).inc()
            if d.reason == "too_late":
                self.too_late.inc()
        for a in out.alerts:
            self.alerts.labels(a.metric, a.status).inc()
        if out.corrections:
            self.late.inc(out.corrections)
        if out.skipped_total:
            self.skipped.inc(out.skipped_total)
        if out.offsets_skipped:
            self.offsets_skipped.inc(out.offsets_skipped)
        self.batch_size.observe(records)
        self.batch_seconds.observe(seconds)
        for stage, took in zip(STAGES, stages, strict=True):
            if took:
                self.stage_seconds.labels(stage).inc(took)


CONNECTION_ERRORS: Final = ("Unable connect to node", "Unable to update metadata",
                             "NodeNotReadyError", "KafkaConnectionError", "Connect call failed")
"""What the Kafka client logs when it cannot reach a broker (aiokafka's messages)."""
CLIENT_LOGGERS: Final = ("aiokafka",)
"""Loggers (with their children) whose errors an outage hides."""


class BrokerOutages(logging.Filter):
    """One warning when the broker becomes unreachable and one when it answers again.

    Unreachable, the Kafka client logs an error per connection attempt, fetch, metadata
    update and heartbeat: over a thousand lines in 25 s, from two threads (Faust's consumer
    runs in its own). As a filter on the client's loggers, this turns the first connection
    error into an outage: one warning, then every client warning or error is counted
    instead of logged until `answered` (a probe that reached the broker) is called with no
    client error for `quiet_s`. Faust's "Timer commit is overlapping" warnings for timer
    runs that spanned an outage (a commit waits for the broker) are dropped too.
    """

    def __init__(self, registry: CollectorRegistry, log: logging.Logger,
                 clock: Callable[[], float] = time.monotonic, quiet_s: float = 2.0) -> None:
        super().__init__()
        self.log = log
        self.clock = clock
        self.quiet_s = quiet_s
        self._lock = threading.Lock()
        self.started_at: float | None = None
        """Clock reading when the current outage began (None: no outage)."""
        self._last_error_at = float("-inf")
        self._ended_at = float("-inf")
        self._hidden = 0
        self.outages = Counter("sellerperf_broker_outages_total",
                               "Times the Kafka broker became unreachable", registry=registry)
        self.outage_seconds = Counter("sellerperf_broker_outage_seconds_total",
                                      "Seconds spent in ended broker outages", registry=registry)
        self.hidden = Counter("sellerperf_broker_client_errors_hidden_total",
                              "Kafka client warnings and errors counted instead of logged "
                              "during broker outages", registry=registry)
        current = Gauge("sellerperf_broker_outage_ongoing_seconds",
                        "Seconds the current broker outage has lasted (0: none)",
                        registry=registry)
        current.set_function(self.current_s)

    def install(self) -> None:
        """Filter the Kafka client's loggers (those created so far: its modules are)."""
        names = [n for n in logging.root.manager.loggerDict
                 if any(n == c or n.startswith(c + ".") for c in CLIENT_LOGGERS)]
        for name in [*CLIENT_LOGGERS, *names, "mode.timers"]:
            logging.getLogger(name).addFilter(self)

    @property
    def active(self) -> bool:
        """Whether an outage is under way."""
        return self.started_at is not None

    def current_s(self) -> float:
        """Seconds the current outage has lasted (0: none)."""
        started = self.started_at
        return 0.0 if started is None else self.clock() - started

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to log a record (False: counted as part of an outage)."""
        if record.levelno < logging.WARNING:
            return True
        now = self.clock()
        with self._lock:
            if record.name == "mode.timers":
                return not self._spanned_outage(record, now)
            if self.started_at is not None:
                self._last_error_at = now
                self._hidden += 1
                self.hidden.inc()
                return False
            message = record.getMessage()
            if not any(text in message for text in CONNECTION_ERRORS):
                return True
            self.started_at = self._last_error_at = now
            self._hidden = 0
            self.outages.inc()
        self.log.warning("Kafka broker unreachable (%s); its client's errors are counted, "
                         "not logged, until it answers again", message.strip())
        return False

    def answered(self) -> None:
        """A request reached the broker: the outage ends if the client has been quiet."""
        now = self.clock()
        with self._lock:
            started = self.started_at
            if started is None or now - self._last_error_at < self.quiet_s:
                return
            self.started_at = None
            self._ended_at = now
            hidden = self._hidden
            self.outage_seconds.inc(now - started)
        self.log.warning("Kafka broker reachable again after an outage of %.1f s (%d client "
                         "errors not logged)", now - started, hidden)

    def _spanned_outage(self, record: logging.LogRecord, now: float) -> bool:
        """Whether a timer's overlap warning is about a run that waited out an outage."""
        if self.started_at is not None:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        runtime = args[2] if len(args) == 3 and isinstance(args[2], int | float) else 0.0
        return "overlapping" in str(record.msg) and now - runtime <= self._ended_at


class PopulationCollector(Collector):
    """Reads the engines at scrape time: sellers by status and rate distributions, per rate."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | HistogramMetricFamily]:
        """The seller population, bounded by rates x statuses, plus per-partition lag."""
        entries = self.runtime.profile.entries
        counts = [[0] * len(STATUS_NAMES) for _ in entries]
        buckets = [[0] * len(RATE_BUCKETS) for _ in entries]
        sums = [0.0] * len(entries)
        observed = [0] * len(entries)
        lag = GaugeMetricFamily("sellerperf_event_time_lag_seconds",
                                "Wall clock minus the engine's event-time clock, per partition",
                                labels=["partition"])
        now_ms = time.time() * 1000
        open_objects = held = 0
        for partition, pr in self.runtime.iter_partitions():
            engine = pr.part.engine
            if engine.clock_ms > 0:
                lag.add_metric([str(partition)], (now_ms - engine.clock_ms) / 1000)
            for seller in engine.sellers.values():
                open_objects += seller.open_objects()
                held += seller.held_objects()
                for j, total in enumerate(seller.sums):
                    counts[j][seller.status[j]] += 1
                    den = total >> 32
                    if den:
                        rate = (total & 0xFFFFFFFF) / den
                        sums[j] += rate
                        observed[j] += 1
                        for b, bound in enumerate(RATE_BUCKETS):
                            if rate <= bound:
                                buckets[j][b] += 1
        # The rate's name is distinct within the profile (a split rate's ends in its values);
        # its marketplace and channel are labels too ("" when the rate has no filter), bounded
        # by the profile's entries.
        sellers = GaugeMetricFamily("sellerperf_sellers", "Sellers by rate and status",
                                    labels=["metric", "marketplace", "channel", "status"])
        rates = HistogramMetricFamily("sellerperf_seller_rate_ratio",
                                      "Distribution of each rate across sellers",
                                      labels=["metric", "marketplace", "channel"])
        for j, entry in enumerate(entries):
            dims = [entry.marketplace or "", entry.channel or ""]
            for s, name in enumerate(STATUS_NAMES):
                sellers.add_metric([entry.name, *dims, name], counts[j][s])
            cumulative = [(str(bound), buckets[j][b]) for b, bound in enumerate(RATE_BUCKETS)]
            cumulative.append(("+Inf", observed[j]))
            rates.add_metric([entry.name, *dims], cumulative, sum_value=sums[j])
        yield sellers
        yield rates
        yield lag
        yield GaugeMetricFamily("sellerperf_open_objects",
                                "Orders, messages and returns whose facts are kept",
                                value=open_objects)
        yield GaugeMetricFamily("sellerperf_open_objects_in_memory",
                                "Open objects held in memory (the others are in the table's "
                                "store, see SELLERPERF_EVICT)",
                                value=held)
        yield GaugeMetricFamily("sellerperf_partitions_active",
                                "Input partitions this worker processes",
                                value=len(self.runtime.active))
