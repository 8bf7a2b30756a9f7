"""Live synthetic load for the latency benchmark: event times track the wall clock.

Background: orders for N sellers whose lives (shipment, first scan, delivery, buyer
messages and replies, a few returns) unfold over seconds, each event stamped with the
wall clock when it is produced. Bursts: every `burst_every_s` a fresh seller gets
`warm_orders` orders shipped on time (so its 10-day late shipment rate is judged: `ok`),
plus `late_orders` orders due to ship `deadline_s` later; at that deadline their shipment
confirmations arrive, late, and take the seller to `breach` (4 of 64 = 6.25 % against the
4 % target; at_risk would start at 3 %). The latency of a burst is from the deadline, which
is when the late shipment confirmations are produced (event time = wall clock), to the
breach alert being read from the alerts topic.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.core.clock import DAY_MS
from streams.kafka.client import topic_for
from streams.kafka.settings import Settings
from streams.offline.simulate import format_time_ms

_CARRIERS = (("UPS", "1Z"), ("USPS", "94"), ("FedEx", "77"), ("DHL", "JD"))


def now_ms() -> int:
    """Wall clock, epoch milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass
class Burst:
    """One seller pushed over the late shipment target."""

    seller_id: str
    started_ms: int
    """Wall clock when its orders were produced."""
    deadline_ms: int
    """Expected ship time of the late orders (event time = wall clock)."""
    late_sent_ms: int | None = None
    """Wall clock when the late shipment confirmations were handed to the producer."""
    alert_read_ms: int | None = None
    """Wall clock when the breach alert was read from the alerts topic."""
    alert: dict[str, Any] | None = None


@dataclass
class LiveResult:
    """What a live run produced and observed."""

    seconds: float
    sent: int
    bursts: list[Burst]
    alerts_read: int
    other_alerts: int
    settings: dict[str, Any] = field(default_factory=dict)

    def latencies_ms(self, warmup_s: float) -> list[int]:
        """Deadline -> alert read, for bursts after the warm-up that were alerted."""
        if not self.bursts:
            return []
        first = self.bursts[0].started_ms + int(warmup_s * 1000)
        return [b.alert_read_ms - b.deadline_ms for b in self.bursts
                if b.alert_read_ms is not None and b.started_ms >= first]


class LiveLoad:
    """Generates and produces the live load; reads the alerts back."""

    def __init__(self, settings: Settings, *, sellers: int = 2000, rate: float = 2000.0,
                 burst_every_s: float = 0.5, warm_orders: int = 60, late_orders: int = 4,
                 deadline_s: float = 1.0, seed: int = 3, tag: str = "L") -> None:
        self.settings = settings
        self.sellers = [f"{tag}S{i:05d}" for i in range(sellers)]
        self.rate = rate
        self.burst_every_s = burst_every_s
        self.warm_orders = warm_orders
        self.late_orders = late_orders
        self.deadline_s = deadline_s
        self.rng = random.Random(seed)
        self.tag = tag
        self.seq = 0
        self.orders = 0
        self.sent = 0
        # (due wall ms, seq, type, seller, fields) of background events still to come
        self.heap: list[tuple[int, int, str, str, dict[str, Any]]] = []
        self.bursts: list[Burst] = []
        self.by_seller: dict[str, Burst] = {}
        self.pending_late: list[tuple[int, Burst, list[str]]] = []
        self.alerts_read = 0
        self.other_alerts = 0

    # -- events ----------------------------------------------------------------

    def _event(self, typ: str, seller: str, t: int, fields: dict[str, Any]) -> tuple[
            str, bytes, bytes]:
        self.seq += 1
        doc = {"event_id": f"{self.tag}E{self.seq:010d}", "type": typ,
               "event_time": format_time_ms(t), "seller_id": seller, **fields}
        return topic_for(typ, self.settings), seller.encode(), orjson.dumps(doc)

    def _later(self, delay_s: float, typ: str, seller: str, fields: dict[str, Any]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (now_ms() + int(delay_s * 1000), self.seq, typ, seller, fields))

    def _new_order(self, t: int) -> tuple[str, bytes, bytes]:
        """A background order; its later life goes on the heap."""
        r = self.rng.random
        seller = self.sellers[int(r() * len(self.sellers))]
        self.orders += 1
        oid = f"{self.tag}O{self.orders:09d}"
        fba = r() < 0.3
        ev = self._event("order_placed", seller, t, {
            "order_id": oid, "marketplace": "US", "channel": "marketplace" if fba else "seller",
            "expected_ship_at": format_time_ms(t + DAY_MS),
            "promised_delivery_at": format_time_ms(t + 4 * DAY_MS), "units": 1})
        if r() < 0.02:
            self._later(1 + 5 * r(), "order_cancelled", seller,
                        {"order_id": oid, "cancelled_by": "buyer", "reason": "buyer_request"})
        else:
            ship = 2 + 15 * r()
            carrier, prefix = _CARRIERS[int(r() * len(_CARRIERS))]
            self._later(ship, "shipment_confirmed", seller, {
                "order_id": oid, "carrier": carrier, "tracking_number": f"{prefix}{oid}"})
            self._later(ship + 5 + 20 * r(), "tracking_validated", seller, {"order_id": oid})
            delivered = ship + 30 + 60 * r()
            self._later(delivered, "delivered", seller, {"order_id": oid})
            if r() < 0.05:
                rid = f"{self.tag}R{self.orders:09d}"
                self._later(delivered + 5 + 10 * r(), "return_requested", seller,
                            {"return_id": rid, "order_id": oid})
                self._later(delivered + 20 + 10 * r(), "return_authorised", seller,
                            {"return_id": rid})
        if r() < 0.12:
            mid = f"{self.tag}M{self.orders:09d}"
            self._later(0.5 + 5 * r(), "message_received", seller,
                        {"message_id": mid, "order_id": oid, "needs_reply": True})
            self._later(6 + 30 * r(), "seller_replied", seller, {"message_id": mid})
        return ev

    def _burst(self, t: int) -> list[tuple[str, bytes, bytes]]:
        """A fresh seller: on-time orders, shipped, and orders due at the deadline."""
        n = len(self.bursts)
        seller = f"{self.tag}B{n:05d}"
        deadline = t + int(self.deadline_s * 1000)
        # On-time orders are due within the current UTC day, so they count in today's window.
        due = min(t + 3_600_000, t - t % DAY_MS + DAY_MS - 1)
        out = []
        for i in range(self.warm_orders + self.late_orders):
            oid = f"{seller}-O{i:03d}"
            late = i >= self.warm_orders
            out.append(self._event("order_placed", seller, t, {
                "order_id": oid, "marketplace": "US", "channel": "seller",
                "expected_ship_at": format_time_ms(deadline if late else due),
                "promised_delivery_at": format_time_ms(t + 4 * DAY_MS), "units": 1}))
            if not late:
                out.append(self._event("shipment_confirmed", seller, t + 1, {
                    "order_id": oid, "carrier": "UPS", "tracking_number": f"1Z{oid}"}))
        burst = Burst(seller, t, deadline)
        self.bursts.append(burst)
        self.by_seller[seller] = burst
        late_ids = [f"{seller}-O{i:03d}" for i in range(self.warm_orders,
                                                          self.warm_orders + self.late_orders)]
        self.pending_late.append((deadline, burst, late_ids))
        return out

    def _late_shipments(self, burst: Burst, order_ids: list[str], t: int) -> list[
            tuple[str, bytes, bytes]]:
        return [self._event("shipment_confirmed", burst.seller_id, t, {
            "order_id": oid, "carrier": "UPS", "tracking_number": f"1Z{oid}"})
            for oid in order_ids]

    # -- running -----------------------------------------------------------------

    async def run(self, duration_s: float, alerts_topic: str,
                  log: Callable[[str], None] | None = None) -> LiveResult:
        """Produce for `duration_s`, then wait a little for the last alerts."""
        bootstrap = self.settings.bootstrap_servers
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all",
                                    enable_idempotence=True)
        consumer = AIOKafkaConsumer(alerts_topic, bootstrap_servers=bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    fetch_max_wait_ms=5, group_id=None)
        await producer.start()
        await consumer.start()
        stop = asyncio.Event()
        reader = asyncio.create_task(self._read_alerts(consumer, stop))
        started = time.perf_counter()
        try:
            await self._produce(producer, duration_s)
        finally:
            stop.set()
            await reader
            await producer.stop()
            await consumer.stop()
        produced_s = time.perf_counter() - started
        return LiveResult(produced_s, self.sent, self.bursts, self.alerts_read,
                          self.other_alerts)

    async def _produce(self, producer: AIOKafkaProducer, duration_s: float) -> None:
        t0 = time.perf_counter()
        next_burst = t0 + 1.0
        pending: list[asyncio.Future[Any]] = []
        tick = 0.005
        drain_until = None
        while True:
            elapsed = time.perf_counter() - t0
            if elapsed >= duration_s:
                # No new bursts; background load goes on (it moves the watermark) until the
                # late shipments are out and every burst is alerted, for at most 5 s more.
                if drain_until is None:
                    drain_until = elapsed + 5.0
                    next_burst = float("inf")
                if elapsed >= drain_until or (not self.pending_late and all(
                        b.alert_read_ms is not None for b in self.bursts)):
                    break
            now = now_ms()
            batch: list[tuple[str, bytes, bytes]] = []
            # Late shipments exactly at their deadline.
            while self.pending_late and self.pending_late[0][0] <= now:
                _, burst, ids = self.pending_late.pop(0)
                burst.late_sent_ms = now
                batch += self._late_shipments(burst, ids, max(now, burst.deadline_ms + 1))
            if time.perf_counter() >= next_burst:
                batch += self._burst(now)
                next_burst += self.burst_every_s
            due = int(self.rate * elapsed) - self.sent - len(batch)
            heap = self.heap
            while due > 0:
                if heap and heap[0][0] <= now:
                    _, _, typ, seller, fields = heapq.heappop(heap)
                    batch.append(self._event(typ, seller, now, fields))
                else:
                    batch.append(self._new_order(now))
                due -= 1
            for topic, key, value in batch:
                pending.append(await producer.send(topic, value=value, key=key))
            self.sent += len(batch)
            if len(pending) > 2000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(tick)
        await asyncio.gather(*pending)
        await producer.flush()

    async def _read_alerts(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=20)
            read_at = now_ms()
            for messages in batch.values():
                for m in messages:
                    self.alerts_read += 1
                    alert = orjson.loads(m.value)
                    burst = self.by_seller.get(alert.get("seller_id", ""))
                    if burst is None:
                        self.other_alerts += 1
                        continue
                    if (alert.get("status") == "breach" and burst.alert_read_ms is None
                            and str(alert.get("metric", "")).startswith("late_shipment_rate")):
                        burst.alert_read_ms = read_at
                        burst.alert = alert


def percentile(values: list[int], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return float(ordered[rank - 1])
