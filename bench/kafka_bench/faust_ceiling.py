"""How fast a Faust app that does nothing with the records reads the benchmark topics.

    python bench/kafka_bench/faust_ceiling.py MODE TOPIC[,TOPIC...] PARTITIONS EVENTS

MODE `stream`: an agent over the topics, `take_events(2000, within=0.05)`, the way
Faust apps usually consume (and this worker did before streams.kafka.fetching). MODE `fetch`:
the consumer of streams.kafka.fetching handing whole fetches to an agent through a channel,
as the worker does now. Either way nothing is done with the records but counting them.
MODE `ack`: as `fetch`, and each record's value decoded (orjson) and the record
acknowledged to Faust (which commits the offsets), as the worker does: the least a worker
on this stack does per record, with an engine that takes no time.
Prints one JSON line: events, seconds from the first record to the last, CPU seconds.
Bootstrap servers from KAFKA_BOOTSTRAP_SERVERS.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from typing import Any

import faust
import orjson

from streams.kafka.fetching import Acked, consume_fetches


def main() -> None:
    mode, topics, partitions, total = (sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]),
                                       int(sys.argv[4]))
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    # Faust's data dir defaults to `<app id>-data` in the current directory: the repo root.
    datadir = tempfile.mkdtemp(prefix=f"faust-ceiling-{mode}-")
    app = faust.App(f"faust-ceiling-{mode}-{uuid.uuid4().hex[:6]}", datadir=datadir,
                    broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                    consumer_auto_offset_reset="earliest", topic_partitions=partitions,
                    broker_commit_interval=1.0, stream_buffer_maxsize=4000,
                    broker_max_poll_records=2000 if mode == "fetch" else None)
    inputs = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw")
    seen = {"n": 0, "first": 0.0}

    def count(n: int) -> None:
        if not seen["first"]:
            seen["first"] = time.perf_counter()
        seen["n"] += n
        if seen["n"] >= total:
            seconds = time.perf_counter() - seen["first"]
            print(json.dumps({"mode": mode, "events": seen["n"], "seconds": seconds,
                              "cpu_seconds": time.process_time()}), flush=True)
            shutil.rmtree(datadir, ignore_errors=True)
            os._exit(0)

    if mode == "stream":
        @app.agent(inputs)
        async def stream_agent(stream: Any) -> None:
            async for events in stream.take_events(2000, within=0.05):
                count(len(events))
    elif mode == "fetch":
        @app.agent(consume_fetches(app, inputs))
        async def fetch_agent(stream: Any) -> None:
            async for fetch in stream:
                count(len(fetch))
    else:
        @app.agent(consume_fetches(app, inputs))
        async def ack_agent(stream: Any) -> None:
            ack, loads = app.consumer.ack, orjson.loads
            async for fetch in stream:
                for tp, batch in fetch.records.items():
                    for record in batch:
                        loads(record.value)
                        ack(Acked(tp, record.offset))
                count(len(fetch))

    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    try:
        app.main()
    finally:
        shutil.rmtree(datadir, ignore_errors=True)


if __name__ == "__main__":
    main()
