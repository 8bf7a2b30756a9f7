"""The Kafka benchmark, one module per thing it measures (`bench/bench_kafka.py` runs it).

- `harness`: the broker, topics, consumer group offsets, processes, table printing;
  `backlog`: the simulated event file; `worker`: a `sellerperf worker` subprocess.
- `limits`: the broker's ConsumerPerformance, a raw aiokafka consumer, a Faust app doing
  nothing (`faust_ceiling`, run as a script) and the engine alone: what a worker cannot beat.
- `throughput`: the worker end to end on the backlog, against the raw consumer;
  `multi_worker`: several worker processes of one group; `profiling`: py-spy on a worker.
- `latency`: alert latency at a live load (`livegen`).
- `state`: state at scale, and 1,000,000 sellers extrapolated.
- `peers`: Quix Streams on the same backlog (`quix_late_shipment`, run in its own venv).
- `report`: the table and ratios; `run`: sizes, the order of a run, the command line.
"""
