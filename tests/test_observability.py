"""The worker's Prometheus metrics, read from a registry fed by the runtime's real outputs."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streams.core.alerts import STATUS_NAMES
from streams.core.clock import DAY_MS
from streams.core.events import encode_event
from streams.core.targets import load_profile
from streams.kafka.observability import STAGES, PopulationCollector, WorkerMetrics
from streams.kafka.runtime import Record, Runtime
from tests.conftest import Events

TOPICS = ("orders", "shipments", "messages", "refunds")
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _batch() -> tuple[Runtime, list[Record]]:
    """A seller who cancels 24 of its 60 orders, a malformed record, an unkeyed one."""
    ev = Events()
    events = [ev.placed(f"o{i}", T0 + i * 60_000, seller="S1", channel="seller")
              for i in range(60)]
    events += [ev.cancelled(f"o{i}", T0 + DAY_MS + i * 60_000, by="seller", seller="S1")
               for i in range(24)]
    records = [Record("orders", 0, i, b"S1", encode_event(e)) for i, e in enumerate(events)]
    records.append(Record("orders", 0, len(records), b"S1", b"{not json"))
    records.append(Record("orders", 0, len(records), None, encode_event(events[0])))
    return Runtime(load_profile("amazon-us"), 0, 1, TOPICS, evict="none"), records


def test_a_batch_is_counted_by_topic_and_type_reason_alert_and_stage() -> None:
    rt, records = _batch()
    out = rt.process(records, lambda p: {}, lambda t, p: True)
    out.alerts += rt.tick(lambda t, p: True, now_s=100.0, idle_s=1.0).alerts
    assert out.alerts, "the seller's cancel rate should have crossed its target"
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.observe(out, len(records), 0.5, (0.25, 0.125, 0.0625))
    value = registry.get_sample_value
    assert value("sellerperf_events_consumed_total",
                 {"topic": "orders", "type": "order_placed"}) == 60
    assert value("sellerperf_events_consumed_total",
                 {"topic": "orders", "type": "order_cancelled"}) == 24
    assert value("sellerperf_invalid_events_total", {"reason": "not_json"}) == 1
    assert value("sellerperf_invalid_events_total", {"reason": "missing_key"}) == 1
    assert value("sellerperf_invalid_events_total", {"reason": "schema"}) == 0
    for alert in out.alerts:
        expected = sum(1 for a in out.alerts if (a.metric, a.status) == (alert.metric,
                                                                         alert.status))
        assert value("sellerperf_alerts_emitted_total",
                     {"metric": alert.metric, "status": alert.status}) == expected
    assert value("sellerperf_batch_size_events_sum") == len(records)
    assert value("sellerperf_batch_processing_seconds_sum") == 0.5
    stages = {s: value("sellerperf_batch_stage_seconds_total", {"stage": s}) for s in STAGES}
    assert stages == {"compute": 0.25, "publish": 0.125, "state": 0.0625}
    metrics.observe(out, 0, 0.0)  # a batch timed by no stage adds to none
    assert value("sellerperf_batch_stage_seconds_total", {"stage": "compute"}) == 0.25


def test_the_population_is_read_from_the_engines_at_scrape_time() -> None:
    rt, records = _batch()
    out = rt.process(records, lambda p: {}, lambda t, p: True)
    out.alerts += rt.tick(lambda t, p: True, now_s=100.0, idle_s=1.0).alerts
    registry = CollectorRegistry()
    registry.register(PopulationCollector(rt))
    value = registry.get_sample_value
    dims = {e.name: {"marketplace": e.marketplace or "", "channel": e.channel or ""}
            for e in rt.profile.entries}  # labels too (issue 17), "" when not filtered
    for entry in rt.profile.entries:  # one seller, in exactly one status per rate
        assert sum(value("sellerperf_sellers", {"metric": entry.name, **dims[entry.name],
                                                "status": s}) or 0
                   for s in STATUS_NAMES) == 1, entry.name
    last = {a.metric: a.status for a in out.alerts}
    for metric, status in last.items():
        assert value("sellerperf_sellers", {"metric": metric, **dims[metric],
                                            "status": status}) == 1
    assert value("sellerperf_partitions_active") == 1
    assert value("sellerperf_open_objects") == 60
    assert value("sellerperf_open_objects_in_memory") == 60
