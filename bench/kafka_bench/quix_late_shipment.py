"""What a user would write instead: the 30-day late shipment rate per seller in Quix Streams.

Runs in its own virtualenv (Quix Streams is not a dependency of this project):

    python3 -m venv /tmp/quixvenv && /tmp/quixvenv/bin/pip install quixstreams
    /tmp/quixvenv/bin/python bench/kafka_bench/quix_late_shipment.py \
        --orders ORDERS --shipments SHIPMENTS --output OUT --group G --state-dir DIR

bench/bench_kafka.py (bench/kafka_bench/peers.py) starts it on the benchmark backlog and
times it from the consumer group's committed offsets, as it does for the sellerperf worker.

What it computes, kept simple but honest:

- The orders and shipments topics (keyed by seller id, co-partitioned) are concatenated, with
  the event time taken from each event's `event_time` (a timestamp extractor), so Quix's
  windows run in event time, as the sellerperf engine does.
- A stateful step (Quix State on RocksDB, scoped to the seller key) remembers each
  seller-fulfilled order's `expected_ship_at` from `order_placed`; on `shipment_confirmed`
  it looks the order up, marks the shipment late when it was confirmed after the expected
  ship time, and forgets the order.
- A hopping window of 30 days stepping by 1 day (Quix's windowed aggregation, on RocksDB
  state) sums late shipments and counts shipments per seller; `.current()` emits the
  updated windows on every shipment, and windows at or above the 4 % target with at least
  100 shipments are written to the output topic (a crude alert: every update, not status
  changes).

Simpler than sellerperf's late shipment rate: orders never confirmed are not counted when
their deadline passes, cancellations are ignored, the window is anchored on the shipment
time rather than the expected ship day, there is no hysteresis, no other metric, no
snapshots and no dead-letter topic.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timedelta
from typing import Any

from quixstreams import Application
from quixstreams.dataframe.windows.aggregations import Count, Sum

DAY = timedelta(days=1)


def event_ms(text: str) -> int:
    """RFC 3339 text -> epoch milliseconds."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def event_time(value: Any, headers: Any, timestamp: int, timestamp_type: Any) -> int:
    """Quix timestamp extractor: the event's own time, not the broker's."""
    try:
        return event_ms(value["event_time"])
    except (TypeError, KeyError, ValueError):
        return timestamp


def late_flag(event: dict[str, Any], state: Any) -> dict[str, int] | None:
    """Remember expected ship times; on a shipment, whether it was late (None otherwise)."""
    kind = event.get("type")
    if kind == "order_placed":
        if event.get("channel") == "seller":
            state.set(event["order_id"], event_ms(event["expected_ship_at"]))
        return None
    if kind == "shipment_confirmed":
        order_id = event["order_id"]
        expected = state.get(order_id)
        if expected is None:
            return None
        state.delete(order_id)
        return {"late": int(event_ms(event["event_time"]) > expected)}
    return None


def build(args: argparse.Namespace) -> Application:
    """The application: topics, dataframe, window, output."""
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel=args.loglevel,
        commit_interval=args.commit_interval,
    )
    orders = app.topic(args.orders, value_deserializer="json", key_deserializer="str",
                       timestamp_extractor=event_time)
    shipments = app.topic(args.shipments, value_deserializer="json", key_deserializer="str",
                          timestamp_extractor=event_time)
    output = app.topic(args.output, value_serializer="json", key_serializer="str")
    sdf = app.dataframe(orders).concat(app.dataframe(shipments))
    sdf = sdf.apply(late_flag, stateful=True).filter(lambda v: v is not None)
    sdf = (
        sdf.hopping_window(duration_ms=30 * DAY, step_ms=DAY, grace_ms=args.grace_ms)
        .agg(late=Sum("late"), shipped=Count())
        .current()
    )
    target, min_shipped = args.target, args.min_shipped
    sdf = sdf.filter(lambda w: w["shipped"] >= min_shipped and w["late"] >= target * w["shipped"])
    sdf = sdf.apply(lambda w: {**w, "late_shipment_rate_30d": w["late"] / w["shipped"]})
    sdf.to_topic(output)
    return app


def main() -> None:
    """Parse arguments and run until stopped."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--orders", required=True)
    p.add_argument("--shipments", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--grace-ms", type=int, default=int(DAY.total_seconds() * 1000),
                   help="window grace in event time [%(default)s]")
    p.add_argument("--commit-interval", type=float, default=1.0,
                   help="seconds between commits (the sellerperf worker commits every 1 s)")
    p.add_argument("--target", type=float, default=0.04,
                   help="late shipment rate written to the output at or above [%(default)s]")
    p.add_argument("--min-shipped", type=int, default=100,
                   help="shipments in the window before a rate is judged [%(default)s]")
    p.add_argument("--loglevel", default="WARNING")
    args = p.parse_args()
    logging.getLogger("quixstreams").setLevel(args.loglevel)
    build(args).run()


if __name__ == "__main__":
    main()
