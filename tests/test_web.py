"""The worker's web view on a real server (127.0.0.1) over a stub runtime: errors in JSON,
the bearer token, readiness, limits and timeouts; no broker."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, cast

import faust
import orjson
import pytest
from faust.exceptions import SameNode
from prometheus_client import CollectorRegistry, Counter

from streams.kafka import web
from streams.kafka.runtime import Runtime
from streams.kafka.settings import Settings, SettingsError

TOKEN = "s3cret-Token_1"


# -- pure parts --------------------------------------------------------------------------

@pytest.mark.parametrize(("assigned", "active", "ready", "states"), [
    pytest.param(None, set(), False, {}, id="no-assignment-yet-is-not-ready"),
    pytest.param(set(), set(), True, {}, id="assigned-nothing-is-ready"),
    pytest.param({0, 1}, {1}, False, {0: "restoring", 1: "ready"}, id="one-restoring"),
    pytest.param({2, 0}, {0, 2, 3}, True, {0: "ready", 2: "ready"}, id="all-restored"),
    pytest.param({0}, {1}, False, {0: "restoring"}, id="active-elsewhere-does-not-count"),
])
def test_a_worker_is_ready_when_every_assigned_partition_is_restored(
    assigned: set[int] | None, active: set[int], ready: bool, states: dict[int, str],
) -> None:
    got = web.readiness(assigned, active)
    assert (got.ready, got.partitions) == (ready, states)
    assert list(got.partitions) == sorted(states)


@pytest.mark.parametrize(("header", "token", "ok"), [
    pytest.param(None, "", True, id="no-token-set-lets-anyone-in"),
    pytest.param(f"Bearer {TOKEN}", TOKEN, True, id="the-token"),
    pytest.param(f"bearer  {TOKEN} ", TOKEN, True, id="scheme-any-case-spaces-trimmed"),
    pytest.param(None, TOKEN, False, id="no-header"),
    pytest.param("Bearer", TOKEN, False, id="no-credentials"),
    pytest.param(f"Bearer {TOKEN}x", TOKEN, False, id="longer"),
    pytest.param(f"Bearer {TOKEN[:-1]}", TOKEN, False, id="a-prefix"),
    pytest.param(f"Basic {TOKEN}", TOKEN, False, id="another-scheme"),
    pytest.param("Bearer caf\udce9", TOKEN, False, id="undecodable-bytes"),
])
def test_the_bearer_token_must_match_exactly(header: str | None, token: str, ok: bool) -> None:
    assert web.authorized(header, token) is ok


@pytest.mark.parametrize(("env", "name", "expected"), [
    ({"SELLERPERF_METRICS_AUTH": "basic"}, "SELLERPERF_METRICS_AUTH", "'none' or 'token'"),
    ({"SELLERPERF_METRICS_AUTH": "token"}, "SELLERPERF_METRICS_AUTH", "SELLERPERF_HTTP_TOKEN"),
    ({"SELLERPERF_HTTP_TOKEN": "two words"}, "SELLERPERF_HTTP_TOKEN", "no spaces"),
    ({"SELLERPERF_HTTP_IDLE_TIMEOUT_S": "0"}, "SELLERPERF_HTTP_IDLE_TIMEOUT_S", "above 0"),
    ({"SELLERPERF_HTTP_IDLE_TIMEOUT_S": "inf"}, "SELLERPERF_HTTP_IDLE_TIMEOUT_S", "above 0"),
])
def test_web_settings_that_cannot_work_are_one_line_errors(
    env: dict[str, str], name: str, expected: str,
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert name in str(caught.value) and expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_web_settings_default_to_no_token_and_an_open_metrics_page() -> None:
    s = Settings.from_env({"SELLERPERF_HTTP_TOKEN": TOKEN, "SELLERPERF_METRICS_AUTH": "token",
                           "SELLERPERF_HTTP_IDLE_TIMEOUT_S": "2.5"})
    assert (s.http_token, s.metrics_auth, s.http_idle_timeout_s) == (TOKEN, "token", 2.5)
    d = Settings.from_env({})
    assert (d.http_token, d.metrics_auth) == ("", "none")


# -- a real server over a stub runtime ---------------------------------------------------

@dataclass
class StubRuntime:
    """What the view reads of the runtime: the rebuilt partitions and a seller's view."""

    active: dict[int, Any] = field(default_factory=dict)
    sellers: dict[str, Any] = field(default_factory=dict)
    fail: bool = False

    def iter_partitions(self) -> Iterator[tuple[int, Any]]:
        yield from sorted(self.active.items())

    def view(self, seller_id: str) -> Any:
        if self.fail:
            raise RuntimeError("boom")
        return self.sellers.get(seller_id)


@dataclass
class Served:
    """A view's server: its port, the stub it reads, and what `assigned()` returns."""

    port: int
    runtime: StubRuntime
    assigned: list[set[int] | None]

    def request(self, path: str, method: str = "GET", token: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one request."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     headers=dict(headers or {}))
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def raw(self, data: bytes) -> bytes:
        """Send bytes on a new connection; all it answers until the server closes it."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(data)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Snap:
    """Stands for a SellerSnapshot: encode_json takes any msgspec-encodable value."""


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start the view's server with given settings in a thread of its own; stop it after."""
    stops: list[Any] = []

    def start(**changes: Any) -> Served:
        port = _free_port()
        settings = replace(Settings(web_host="127.0.0.1", web_port=port, store="memory://",
                                    bootstrap_servers="127.0.0.1:1"), **changes)
        app = faust.App(f"webtest{port}", broker="kafka://127.0.0.1:1", store="memory://",
                        web_host="127.0.0.1", web_bind="127.0.0.1", web_port=port)
        table = app.Table("state", key_type=bytes, value_type=bytes)
        runtime = StubRuntime()
        assigned: list[set[int] | None] = [set()]
        registry = CollectorRegistry()
        Counter("sellerperf_test_total", "a metric to find", registry=registry).inc(3)
        web.install(app, table, cast(Runtime, runtime), settings, registry,
                    lambda: assigned[0])

        async def here(*args: Any, **kwargs: Any) -> Any:
            raise SameNode()  # every seller lives on this worker

        app.router.route_req = here  # type: ignore[method-assign]
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            app.web.init_server()
            loop.run_until_complete(app.web.start_server())
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert started.wait(10), "the server did not start"

        def stop() -> None:
            asyncio.run_coroutine_threadsafe(app.web.stop_server(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

        stops.append(stop)
        return Served(port, runtime, assigned)

    yield start
    for stop in stops:
        stop()


def _error(body: bytes, name: str) -> str:
    doc = orjson.loads(body)
    assert set(doc) == {"error", "detail"} and doc["error"] == name, doc
    assert isinstance(doc["detail"], str) and doc["detail"]
    return str(doc["detail"])


@pytest.mark.parametrize("path", ["/sellers", "/sellers/", "/nope", "/health/", "/table/state/",
                                  "/router", "/sellers/a/b"])
def test_unknown_routes_are_json_404s(serve: Any, path: str) -> None:
    status, headers, body = serve().request(path)
    assert status == 404 and headers["Content-Type"].startswith("application/json")
    assert path in _error(body, "not_found")


def test_a_method_other_than_get_is_a_json_405_naming_the_allowed_ones(serve: Any) -> None:
    status, headers, body = serve().request("/metrics", method="DELETE")
    assert status == 405 and "GET" in headers["Allow"]
    assert "GET" in _error(body, "method_not_allowed")


def test_a_malformed_or_unknown_seller_is_a_json_error(serve: Any) -> None:
    served = serve()
    status, _, body = served.request("/sellers/bad%20id")
    assert status == 400 and "malformed seller id" in _error(body, "bad_request")
    status, _, body = served.request("/sellers/NOBODY")
    assert status == 404 and "NOBODY" in _error(body, "not_found")


def test_a_failing_view_is_a_json_500_without_the_traceback(serve: Any) -> None:
    served = serve()
    served.runtime.fail = True
    status, _, body = served.request("/sellers/S1")
    assert status == 500 and "boom" not in _error(body, "internal_error")


def test_with_a_token_the_seller_view_and_detailed_health_need_it(serve: Any) -> None:
    served = serve(http_token=TOKEN)
    served.runtime.sellers["S1"] = {"seller_id": "S1"}
    for path in ("/sellers/S1", "/health", "/sellers/bad%20id"):
        for token in (None, "wrong"):
            status, headers, body = served.request(path, token=token)
            assert status == 401, (path, token, body)
            assert headers["WWW-Authenticate"].startswith("Bearer")
            _error(body, "unauthorized")
    status, _, body = served.request("/sellers/S1", token=TOKEN)
    assert (status, orjson.loads(body)) == (200, {"seller_id": "S1"})
    status, _, body = served.request("/health", token=TOKEN)
    assert status == 200 and orjson.loads(body)["status"] == "ok"
    for path in ("/health/live", "/health/ready", "/metrics"):
        assert served.request(path)[0] == 200, path


def test_metrics_can_require_the_same_token(serve: Any) -> None:
    served = serve(http_token=TOKEN, metrics_auth="token")
    assert served.request("/metrics")[0] == 401
    status, headers, body = served.request("/metrics", token=TOKEN)
    assert status == 200 and b"sellerperf_test_total 3.0" in body
    assert headers["Content-Type"].startswith("text/plain")


def test_without_a_token_every_route_is_open(serve: Any) -> None:
    served = serve()
    served.runtime.sellers["S1"] = {"seller_id": "S1"}
    for path in ("/sellers/S1", "/health", "/metrics", "/health/live"):
        assert served.request(path)[0] == 200, path


def test_readiness_reports_each_assigned_partition(serve: Any) -> None:
    served = serve(http_token=TOKEN)
    served.assigned[0] = None
    status, _, body = served.request("/health/ready")
    assert (status, orjson.loads(body)) == (503, {"status": "assigning", "partitions": {}})
    served.assigned[0] = {0, 1}
    served.runtime.active[1] = object()
    status, _, body = served.request("/health/ready")
    assert (status, orjson.loads(body)) == (
        503, {"status": "restoring", "partitions": {"0": "restoring", "1": "ready"}})
    assert b"taken_upto" not in body
    served.runtime.active[0] = object()
    status, _, body = served.request("/health/ready")
    assert (status, orjson.loads(body)) == (
        200, {"status": "ready", "partitions": {"0": "ready", "1": "ready"}})
    assert served.request("/health/live") == (200, served.request("/health/live")[1],
                                              b'{"status":"live"}')


def test_a_request_body_over_the_limit_is_a_json_413(serve: Any) -> None:
    served = serve()
    answer = served.raw(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: "
                        + str(web.MAX_BODY_BYTES + 1).encode() + b"\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    assert str(web.MAX_BODY_BYTES) in _error(body, "too_large")


@pytest.mark.parametrize("request_bytes", [
    pytest.param(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
                 id="header-value-too-long"),
    pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="line-too-long"),
    pytest.param(b"GET /metrics HTTP/1.1\r\n" + b"".join(
        b"X-%d: 1\r\n" % i for i in range(web.MAX_HEADERS + 1)) + b"\r\n", id="too-many-headers"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", id="not-http"),
])
def test_a_request_aiohttp_cannot_parse_is_a_json_400(serve: Any, request_bytes: bytes) -> None:
    answer = serve().raw(request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400", answer[:300]
    assert b"application/json" in head
    _error(body, "bad_request")


IDLE_S = 1.0
SLACK_S = 1.5


def _closed_within(conns: list[socket.socket], seconds: float) -> list[float]:
    """For each connection, the seconds until the server closed it (inf: not within)."""
    started = time.monotonic()
    out = []
    for s in conns:
        s.settimeout(max(0.01, started + seconds - time.monotonic()))
        try:
            out.append(time.monotonic() - started if s.recv(1024) == b"" else float("inf"))
        except (TimeoutError, OSError):
            out.append(float("inf"))
    return out


def test_idle_connections_are_closed_after_the_idle_timeout(serve: Any) -> None:
    served = serve(http_idle_timeout_s=IDLE_S)
    conns = [socket.create_connection(("127.0.0.1", served.port), timeout=5) for _ in range(20)]
    used = conns[0]
    used.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    assert used.recv(4096).startswith(b"HTTP/1.1 200")  # then idle on keep-alive
    try:
        time.sleep(IDLE_S / 2)
        assert all(t == float("inf") for t in _closed_within(conns, 0.05)), "closed too soon"
        waited = _closed_within(conns, IDLE_S + SLACK_S)
        assert max(waited) < IDLE_S + SLACK_S, waited
    finally:
        for s in conns:
            s.close()


def test_a_client_sending_its_headers_forever_is_cut_off(serve: Any) -> None:
    served = serve(http_idle_timeout_s=IDLE_S)
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as s:
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        s.settimeout(0.1)
        while time.monotonic() - started < IDLE_S + SLACK_S + 3:
            try:
                s.sendall(b"X-Slow: 1\r\n")
                if s.recv(1024) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:  # reset: closed as well
                break
        took = time.monotonic() - started
    assert IDLE_S * 0.8 < took < IDLE_S + SLACK_S, took
