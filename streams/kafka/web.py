"""The worker's web view: liveness, readiness, health, Prometheus metrics, each seller's rates."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping
from http import HTTPStatus
from typing import Any, NamedTuple, cast

import aiohttp
import faust
import orjson
from aiohttp import web as aioweb
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.kafka.runtime import Runtime, encode_json
from streams.kafka.settings import Settings

log = logging.getLogger("sellerperf.web")

SELLER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MAX_BODY_BYTES = 16 * 1024
"""Largest request body accepted: every route is a GET, none reads a body."""
MAX_LINE_BYTES = 8190
"""Longest request line, and longest header name (aiohttp's default)."""
MAX_FIELD_BYTES = 8190
"""Longest header value (aiohttp's default)."""
MAX_HEADERS = 64
"""Most header lines in one request."""
LINGER_S = 2.0
"""How long a refused request's unread body is read and dropped before the connection
closes (closing at once could reset the connection before the client reads the answer)."""
READY, RESTORING = "ready", "restoring"
ERRORS = {400: "bad_request", 401: "unauthorized", 404: "not_found",
          405: "method_not_allowed", 411: "length_required", 413: "too_large",
          500: "internal_error", 502: "bad_gateway", 503: "unavailable"}
"""The `error` of each status's JSON body (others: the status phrase in snake case)."""
BEARER = {"WWW-Authenticate": 'Bearer realm="sellerperf"'}


class Readiness(NamedTuple):
    """Whether this worker can answer for every partition assigned to it."""

    ready: bool
    """An assignment has come and every partition in it is ready."""
    partitions: dict[int, str]
    """Per assigned input partition: "ready" or "restoring"."""


def readiness(assigned: Iterable[int] | None, active: Container[int]) -> Readiness:
    """An assigned partition whose state the runtime holds is ready, any other restoring;
    before an assignment has come (`assigned` None) the worker is not ready."""
    if assigned is None:
        return Readiness(False, {})
    states = {p: READY if p in active else RESTORING for p in sorted(assigned)}
    return Readiness(all(s == READY for s in states.values()), states)


def authorized(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries the bearer token (any request does when
    no token is set)."""
    if not token:
        return True
    scheme, _, given = (header or "").strip().partition(" ")
    # Digests of equal length: the comparison reveals neither the token nor its length.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        hashlib.sha256(given.strip().encode("utf-8", "surrogatepass")).digest(),
        hashlib.sha256(token.encode()).digest())


def error_response(status: int, detail: str,
                   headers: Mapping[str, str] | None = None) -> aioweb.Response:
    """The JSON answer of every error: {"error": <name>, "detail": <what and why>}."""
    name = ERRORS.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    return aioweb.Response(body=orjson.dumps({"error": name, "detail": detail}),
                           status=status, content_type="application/json", headers=headers)


Handler = Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]]


@aioweb.middleware
async def json_errors(request: aioweb.Request, handler: Handler) -> aioweb.StreamResponse:
    """Refuse request bodies, and answer every error of routing or of a view in JSON."""
    size = request.content_length
    if size is None and request.body_exists:
        return _closing(error_response(411, "a request body of unknown length; expected no "
                                            "body (every route is a GET)"))
    if size is not None and size > MAX_BODY_BYTES:
        return _closing(error_response(413, f"a request body of {size} bytes; expected at "
                                            f"most {MAX_BODY_BYTES}"))
    try:
        return await handler(request)
    except aioweb.HTTPException as exc:
        if exc.status < 400:
            raise
        kept = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
        return error_response(exc.status, _detail(exc, request), kept)
    except aiohttp.ClientError as exc:  # the worker holding a seller did not answer
        return error_response(502, f"the worker holding this key did not answer: {exc}")
    except Exception:
        log.exception("The web view failed on %s %s", request.method, request.path[:200])
        return error_response(500, "the worker failed on this request; its log says why")


def _detail(exc: aioweb.HTTPException, request: aioweb.Request) -> str:
    path = request.path[:200]
    if exc.status == 404:
        return f"no route {request.method} {path!r}; expected /sellers/<seller id>, " \
               f"/health, /health/live, /health/ready or /metrics"
    if isinstance(exc, aioweb.HTTPMethodNotAllowed):
        return f"{request.method} {path!r}; expected " + " or ".join(
            sorted(exc.allowed_methods))
    return exc.text or exc.reason


def _closing(response: aioweb.Response) -> aioweb.Response:
    """The response, and the connection closed after it (its body is never read)."""
    response.force_close()
    return response


class _JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering a request it cannot parse (a line or a
    header over the limits, not HTTP at all) in JSON, with one line of debug log."""

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> aioweb.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:  # as aiohttp: too late for another response
            raise ConnectionError("a response has been sent already")
        log.debug("Bad request from %s: %s", request.remote, message or exc)
        detail = (message or str(exc) or "malformed request")[:300]
        return _closing(error_response(status, detail))


class _Runner(aioweb.AppRunner):
    """aiohttp's application runner, whose connections are `_JsonErrorHandler`s."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # built by aiohttp, answering in JSON
        return server


class _JsonErrorServer(Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class _JsonView(View):
    """A Faust view whose errors (say, a key with no owner yet) have the common body."""

    def error(self, status: int, reason: str, headers: Any = None, **kwargs: Any) -> Response:
        return cast(Response, error_response(status, reason, headers))


def _serve_hardened(app: faust.App, settings: Settings) -> None:
    """Set up the app's aiohttp server: limits, timeouts, JSON errors, no Faust extras."""
    # Faust passes web_application_options to aiohttp's Application; its /router and
    # /table pages would show the assignment and any stored key to anyone.
    app.conf.web_application_options = {"client_max_size": MAX_BODY_BYTES,
                                         "middlewares": [json_errors]}
    app.conf.web_router_enabled = False
    app.conf.web_tables_enabled = False
    driver = app.web
    application: aioweb.Application = driver.web_app  # type: ignore[attr-defined]
    if json_errors not in application.middlewares:
        raise RuntimeError("streams.kafka.web.install must run before anything uses app.web")
    # Faust makes its runner with access_log=None only. keepalive_timeout closes a
    # connection that has not sent a whole request for that long: idle, never used, or
    # still sending its headers (aiohttp arms it on connecting and after each response).
    driver._runner = _Runner(  # type: ignore[attr-defined]
        application, access_log=None, keepalive_timeout=settings.http_idle_timeout_s,
        max_line_size=MAX_LINE_BYTES, max_field_size=MAX_FIELD_BYTES, max_headers=MAX_HEADERS,
        lingering_time=LINGER_S)


def install(app: faust.App, table: Any, runtime: Runtime, settings: Settings,
            registry: CollectorRegistry, assigned: Callable[[], set[int] | None]) -> None:
    """Set up the app's web server and add the routes. Call before anything uses app.web.

    `table` routes a seller's request to the worker holding the seller, `runtime` holds
    the state of the partitions this worker has rebuilt, `registry` is what /metrics
    shows, and `assigned()` gives the input partitions assigned to this worker (None
    until an assignment has come, and during a rebalance).
    """
    _serve_hardened(app, settings)
    token = settings.http_token
    metrics_token = token if settings.metrics_auth == "token" else ""

    def unauthorized() -> Response:
        return cast(Response, error_response(
            401, "this route needs the header Authorization: Bearer <SELLERPERF_HTTP_TOKEN>",
            BEARER))

    @app.page("/health/live")
    class Live(_JsonView):
        """GET /health/live: 200 while the process serves (Kubernetes' liveness probe)."""

        async def get(self, request: Request) -> Response:
            return self.json({"status": "live"})

    @app.page("/health/ready")
    class Ready(_JsonView):
        """GET /health/ready: 200 once every assigned partition is restored, else 503."""

        async def get(self, request: Request) -> Response:
            partitions = assigned()
            state = readiness(partitions, runtime.active)
            status = READY if state.ready else "assigning" if partitions is None else RESTORING
            return self.json({"status": status,
                              "partitions": {str(p): s for p, s in state.partitions.items()}},
                             status=200 if state.ready else 503)

    @app.page("/health")
    class Health(_JsonView):
        """GET /health: the assigned partitions and, per active one, its offsets."""

        async def get(self, request: Request) -> Response:
            if not authorized(request.headers.get("Authorization"), token):
                return unauthorized()
            active = {
                str(p): {"held_events": pr.part.pending, "held_from": pr.held_from(),
                         "taken_upto": pr.live, "acks_waiting": pr.acks_waiting()}
                for p, pr in runtime.iter_partitions()
            }
            return self.json({"status": "ok", "partitions": sorted(assigned() or ()),
                              "active": active})

    @app.page("/metrics")
    class Metrics(_JsonView):
        """GET /metrics: the Prometheus text format."""

        async def get(self, request: Request) -> Response:
            if not authorized(request.headers.get("Authorization"), metrics_token):
                return unauthorized()
            return self.bytes(generate_latest(registry),
                              content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/sellers/{seller_id}")
    class SellerView(_JsonView):
        """GET /sellers/{seller_id}: the seller's rates, from whichever worker holds them."""

        async def get(self, request: Request, seller_id: str) -> Response:
            if not authorized(request.headers.get("Authorization"), token):
                return unauthorized()
            if not SELLER_ID.match(seller_id):
                return self.error(400, f"malformed seller id {seller_id[:100]!r}; expected "
                                       f"1-64 of A-Z a-z 0-9 _ . : -")
            return await self._routed(request)

        @app.table_route(table=table, match_info="seller_id")
        async def _routed(self: View, request: Request) -> Response:
            seller_id = request.match_info["seller_id"]
            snap = runtime.view(seller_id)
            if snap is None:
                return self.error(404, f"unknown seller {seller_id!r}")
            return self.bytes(encode_json(snap), content_type="application/json")

    del Live, Ready, Health, Metrics, SellerView
