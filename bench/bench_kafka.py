"""Kafka benchmark: the limits, the engine, the worker end to end, latency, state, Quix Streams.

    python bench/bench_kafka.py                  # full: 1,000,000-event backlog over 10,000 sellers
    python bench/bench_kafka.py --quick          # small sizes, under a minute (the smoke test)
    python bench/bench_kafka.py --help           # sizes, stores, what to skip

Needs a Kafka broker (KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092; deploy/kafka/start.sh
is run if nothing answers there). Every run uses topics and consumer groups of its own
(prefix `bench<hex>`) and deletes its topics at the end (--keep-topics keeps them).

Measured in one run, on the same backlog:

1. limits: the broker's own consume rate (Kafka's ConsumerPerformance tool over the four
   input topics) and a raw aiokafka consumer that decodes every value with orjson and does
   nothing else;
2. the engine alone (bench/bench_engine.py in a subprocess);
3. `sellerperf worker` end to end, per store: events/s from process start and from the first
   committed progress to every input offset committed (the consumer group's offsets, polled
   with the admin client), as a ratio to the raw aiokafka consumer; RSS and on-disk state;
4. alert latency at a steady offered load with event times tracking the wall clock
   (bench/kafka_bench/livegen.py), allowed lateness set low;
5. state at scale: a worker (RocksDB store) on a backlog of many sellers with few orders,
   and the engine alone in-process on the same events (bench/state_scale.py);
6. a Quix Streams application computing the 30-day late shipment rate per seller
   (bench/kafka_bench/quix_late_shipment.py, run with --quix-python from its own virtualenv).

Optionally (--profile) a py-spy profile of the worker on the backlog, in a run of its own.
Prints a table and writes JSON (bench/results/kafka.json by default). Each part lives in a
module of bench/kafka_bench/ (see its __init__); this file is the entry point.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from kafka_bench.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
