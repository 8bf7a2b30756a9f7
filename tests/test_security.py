"""Security settings become aiokafka's options, or one line naming the setting (no broker).

tests/kafka/test_secure.py runs them against a broker with SASL_SSL and ACLs."""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import replace
from pathlib import Path

import pytest

from streams.kafka.security import KafkaSecurityError, check_login, client_options
from streams.kafka.settings import Settings

SASL_SSL = Settings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                    sasl_username="worker", sasl_password="pw")


def test_plaintext_adds_no_option() -> None:
    assert client_options(Settings()) == {}


def test_sasl_ssl_gives_the_mechanism_the_credentials_and_a_verifying_tls_context() -> None:
    options = client_options(SASL_SSL)
    context = options.pop("ssl_context")
    assert options == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "worker", "sasl_plain_password": "pw"}
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_sasl_plaintext_has_no_tls_and_ssl_has_no_sasl() -> None:
    plain = client_options(replace(SASL_SSL, security_protocol="SASL_PLAINTEXT"))
    assert "ssl_context" not in plain and plain["sasl_mechanism"] == "SCRAM-SHA-512"
    tls = client_options(replace(SASL_SSL, security_protocol="SSL"))
    assert set(tls) == {"security_protocol", "ssl_context"}


@pytest.mark.parametrize(("change", "named", "expected"), [
    ({"security_protocol": "TLS"}, "SELLERPERF_SECURITY_PROTOCOL", "'TLS'; expected one of"),
    ({"sasl_mechanism": "SCRAM"}, "SELLERPERF_SASL_MECHANISM", "'SCRAM'; expected one of"),
    ({"sasl_username": ""}, "SELLERPERF_SASL_USERNAME", "expected a user name"),
    ({"ssl_cafile": "/no/such/ca.pem"}, "SELLERPERF_SSL_CAFILE",
     "'/no/such/ca.pem'; expected a readable PEM file"),
])
def test_an_unusable_setting_is_one_line_naming_it(change: dict[str, str], named: str,
                                                   expected: str) -> None:
    with pytest.raises(KafkaSecurityError) as caught:
        client_options(replace(SASL_SSL, **change))
    message = str(caught.value)
    assert message.startswith(named) and expected in message and "\n" not in message


def test_a_cafile_that_is_not_pem_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(KafkaSecurityError, match=r"SELLERPERF_SSL_CAFILE: got '.*ca\.pem'"):
        client_options(replace(SASL_SSL, ssl_cafile=str(bad)))


def test_a_broker_that_does_not_answer_tls_is_named_by_the_protocol() -> None:
    # A listener that answers in plain text: the TLS handshake cannot succeed.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        async def run() -> None:
            loop = asyncio.get_running_loop()

            async def refuse() -> None:
                conn, _ = await loop.sock_accept(server)
                await loop.sock_sendall(conn, b"HTTP/1.0 400 Bad Request\r\n\r\n" * 8)
                await asyncio.sleep(0.5)
                conn.close()

            server.setblocking(False)
            closing = asyncio.ensure_future(refuse())
            try:
                await check_login(replace(SASL_SSL, bootstrap_servers=f"127.0.0.1:{port}"),
                                  timeout_s=5)
            finally:
                await closing

        with pytest.raises(KafkaSecurityError, match="SELLERPERF_SECURITY_PROTOCOL: got "
                                                     "'SASL_SSL'; the TLS handshake"):
            asyncio.run(run())


def test_an_unreachable_broker_is_left_to_the_client() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        asyncio.run(check_login(replace(SASL_SSL, bootstrap_servers=f"127.0.0.1:{port}"),
                                timeout_s=5))
