"""Connecting to a secured Kafka: the client options of each protocol, and a login check."""

from __future__ import annotations

import asyncio
import ssl
import threading
from functools import lru_cache

from streams.errors import SellerPerfError
from streams.kafka.settings import Settings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
"""Values of SELLERPERF_SECURITY_PROTOCOL."""
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
"""Values of SELLERPERF_SASL_MECHANISM."""
LOGIN_TIMEOUT_S = 15.0
"""Longest wait for the broker to answer the login check."""


class KafkaSecurityError(SellerPerfError):
    """The security settings cannot be used, or the broker refused them."""


def client_options(settings: Settings) -> dict[str, object]:
    """aiokafka's security keyword arguments for these settings (none for PLAINTEXT)."""
    protocol = settings.security_protocol
    if protocol not in PROTOCOLS:
        raise KafkaSecurityError(
            f"SELLERPERF_SECURITY_PROTOCOL: got {protocol!r}; expected one of "
            + ", ".join(PROTOCOLS))
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, object] = {"security_protocol": protocol}
    if protocol.startswith("SASL"):
        if settings.sasl_mechanism not in MECHANISMS:
            raise KafkaSecurityError(
                f"SELLERPERF_SASL_MECHANISM: got {settings.sasl_mechanism!r}; expected one of "
                + ", ".join(MECHANISMS))
        if not settings.sasl_username:
            raise KafkaSecurityError(
                f"SELLERPERF_SASL_USERNAME: got ''; expected a user name with "
                f"SELLERPERF_SECURITY_PROTOCOL={protocol}")
        options.update(sasl_mechanism=settings.sasl_mechanism,
                       sasl_plain_username=settings.sasl_username,
                       sasl_plain_password=settings.sasl_password)
    if protocol.endswith("SSL"):
        options["ssl_context"] = ssl_context(settings)
    return options


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """TLS that verifies the broker's certificate and host name against SELLERPERF_SSL_CAFILE
    (the system's CAs if it is empty)."""
    try:
        return ssl.create_default_context(cafile=settings.ssl_cafile or None)
    except (OSError, ssl.SSLError) as exc:
        why = getattr(exc, "reason", None) or exc.strerror or exc
        raise KafkaSecurityError(
            f"SELLERPERF_SSL_CAFILE: got {settings.ssl_cafile!r}; expected a readable PEM file "
            f"of CA certificates ({why})") from None


async def check_login(settings: Settings, timeout_s: float = LOGIN_TIMEOUT_S) -> None:
    """Open one connection to the first bootstrap server as a client would (TLS handshake,
    SASL login) and raise KafkaSecurityError, in one line, if the broker refuses it.

    A broker that cannot be reached at all is left to the client that comes next: this
    returns quietly then (and for PLAINTEXT, which has nothing to check).
    """
    options = client_options(settings)
    if not options:
        return
    from aiokafka.conn import create_conn
    from aiokafka.errors import (
        KafkaError,
        SaslAuthenticationFailed,
        UnsupportedSaslMechanismError,
    )

    server = settings.bootstrap_servers.split(",")[0].strip()
    host, _, port = server.rpartition(":")
    try:
        conn = await asyncio.wait_for(
            create_conn(host or "127.0.0.1", int(port), request_timeout_ms=int(timeout_s * 1000),
                        **options),
            timeout_s)
    except SaslAuthenticationFailed as exc:
        detail = str(exc.args[0]) if exc.args else "authentication failed"
        raise KafkaSecurityError(
            f"Kafka at {server} refused the login of user {settings.sasl_username!r} "
            f"({settings.sasl_mechanism}): {detail.rstrip('.')}; expected "
            f"SELLERPERF_SASL_USERNAME and SELLERPERF_SASL_PASSWORD of a user it knows") from None
    except UnsupportedSaslMechanismError:
        raise KafkaSecurityError(
            f"SELLERPERF_SASL_MECHANISM: got {settings.sasl_mechanism!r}; Kafka at {server} "
            f"does not enable it on this listener") from None
    except ssl.SSLCertVerificationError as exc:
        raise KafkaSecurityError(
            f"SELLERPERF_SSL_CAFILE: got {settings.ssl_cafile!r}; the certificate of Kafka at "
            f"{server} does not verify against it ({exc.verify_message}); expected the CA "
            f"that signed it") from None
    except ssl.SSLError as exc:
        raise KafkaSecurityError(
            f"SELLERPERF_SECURITY_PROTOCOL: got {settings.security_protocol!r}; the TLS "
            f"handshake with {server} failed ({exc.reason or exc}); expected a listener that "
            f"speaks {settings.security_protocol}") from None
    except (TimeoutError, OSError, KafkaError, ValueError):
        return  # not reachable, or not this check's to judge: the client will say so
    conn.close()


def check_login_now(settings: Settings) -> None:
    """check_login from code that is not a coroutine, or runs inside a loop that must not be
    awaited on (a thread with a loop of its own); done once per settings in a process."""
    _checked(settings)


@lru_cache(maxsize=16)
def _checked(settings: Settings) -> bool:
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(check_login(settings))
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="kafka-login-check", daemon=True)
    thread.start()
    thread.join(LOGIN_TIMEOUT_S + 5)
    if failure:
        raise failure[0]
    return True
