"""The error vocabulary shared by every package.

Delivery policy depends on the class of an error, never on its message:
``PermanentError`` goes straight to the dead-letter queue, anything else is retried
with backoff until the attempts run out.
"""

from __future__ import annotations


class OutriggerError(Exception):
    """Base class of every error Outrigger raises on purpose."""


class ConfigError(OutriggerError):
    """The configuration is invalid; the message names the key path and the reason."""


class MissingExtraError(OutriggerError, ImportError):
    """An optional dependency is not installed."""


#: The code of an LLM answer the proxy's guardrails withheld (invalid or leaking after a repair).
OUTPUT_WITHHELD = "output_withheld"


class PermanentError(OutriggerError):
    """Retrying cannot help: the input itself is wrong.

    ``code`` is a short, stable machine-readable reason (``not_json``, ``mapping_failed`` ...)
    stored with the dead letter; the message is the human-readable explanation.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class MalformedEvent(PermanentError):
    """The incoming bytes are not an event we can read."""


class MappingError(PermanentError):
    """A payload field needed by a step is missing or has the wrong type."""

    def __init__(self, message: str) -> None:
        super().__init__("mapping_failed", message)


class OutputValidationError(PermanentError):
    """A step produced output that violates its declared JSON Schema."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_output", message)


class TransientError(OutriggerError):
    """A failure that may succeed on a later attempt (broker hiccup, provider timeout)."""


class Unroutable(TransientError):
    """A publish no consumer was bound to receive: the broker refused to drop it.

    Transient (a consumer may bind later), but reported by name: a result that stays
    unroutable is dead-lettered as ``result_unroutable``, not as an anonymous retry failure.
    """

    def __init__(self, exchange: str, routing_key: str, detail: str | None = None) -> None:
        """``detail``: the broker's own words for what is missing (default: no binding)."""
        self.exchange = exchange or "(default exchange)"
        self.routing_key = routing_key
        missing = detail or f"no consumer bound to exchange {self.exchange} for key {routing_key}"
        super().__init__(f"unroutable: {missing}")
