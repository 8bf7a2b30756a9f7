"""The worker's web view: health, Prometheus metrics and each seller's rates."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.kafka.runtime import Runtime, encode_json
from streams.kafka.settings import Settings

SELLER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def install(app: faust.App, table: Any, runtime: Runtime, settings: Settings,
            registry: CollectorRegistry, assigned: Callable[[], set[int]]) -> None:
    """Add the routes to the app's web server.

    `table` routes a seller's request to the worker holding the seller, `runtime` holds
    the state of the partitions this worker has rebuilt, `registry` is what /metrics
    shows, and `assigned()` gives the input partitions assigned to this worker.
    """

    @app.page("/health")
    async def health(web: Any, request: Request) -> Response:
        active = {
            str(p): {"held_events": pr.part.pending, "held_from": pr.held_from(),
                     "taken_upto": pr.live, "acks_waiting": pr.acks_waiting()}
            for p, pr in runtime.iter_partitions()
        }
        response: Response = web.json({"status": "ok", "partitions": sorted(assigned()),
                                       "active": active})
        return response

    @app.page("/metrics")
    async def prometheus(web: Any, request: Request) -> Response:
        body = generate_latest(registry)
        response: Response = web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])
        return response

    @app.page("/sellers/{seller_id}")
    class SellerView(View):
        """GET /sellers/{seller_id}: the seller's rates, from whichever worker holds them."""

        async def get(self, request: Request, seller_id: str) -> Response:
            if not SELLER_ID.match(seller_id):
                return self.json({"error": f"malformed seller id {seller_id!r}; expected "
                                           f"1-64 of A-Z a-z 0-9 _ . : -"}, status=400)
            return await self._routed(request)

        @app.table_route(table=table, match_info="seller_id")
        async def _routed(self: View, request: Request) -> Response:
            seller_id = request.match_info["seller_id"]
            snap = runtime.view(seller_id)
            if snap is None:
                return self.json({"error": f"unknown seller {seller_id!r}"}, status=404)
            return self.bytes(encode_json(snap), content_type="application/json")

    del health, prometheus, SellerView
