"""Prometheus metrics of the worker, on a registry passed in; seller detail stays out of labels."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
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
