"""The project's exception hierarchy."""

from __future__ import annotations


class SellerPerfError(Exception):
    """Base of every error this project raises on purpose."""


class InvalidEvent(SellerPerfError):
    """An input event could not be used; names the field, value and expectation."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field

    @property
    def message(self) -> str:
        """The human-readable explanation."""
        return str(self.args[0])


class TargetProfileError(SellerPerfError):
    """A target profile file is malformed."""


class UnknownMetric(SellerPerfError):
    """A target profile names a metric that is not registered."""


class UsageError(SellerPerfError):
    """A command-line argument or path has a value the command cannot use."""


class KafkaUnavailable(SellerPerfError):
    """No Kafka broker answered at the bootstrap servers in time."""


class KafkaRequestFailed(SellerPerfError):
    """A Kafka broker refused a request (creating topics, producing records)."""
