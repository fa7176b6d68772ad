"""Deliveries counted by the worker itself, for brokers that do not count them.

Classic RabbitMQ queues only flag a redelivery (``attempt`` is 2 for the second and the
hundredth), and Kafka has no redelivery at all. A message that keeps failing in a way the
worker cannot classify must still reach the delivery limit, so the worker remembers how
often each message failed that way (a bounded map: the oldest entries go first) and takes
the larger of its own count and the broker's. Nothing is counted on the happy path.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from outrigger.bus.base import BusMessage


def fingerprint(message: BusMessage) -> str:
    """The message's id when it has one, else a digest of its routing key and bytes."""
    if message.message_id:
        return f"id:{message.message_id}"
    digest = hashlib.blake2b(message.body, digest_size=16, person=b"outrigger-attmpt")
    digest.update(message.domain_routing_key.encode())
    return f"body:{digest.hexdigest()}"


class FailureCounter:
    """How often each message failed here in a way that sent it back to the broker."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._failures: OrderedDict[str, int] = OrderedDict()

    def failed(self, message: BusMessage, broker_attempt: int) -> int:
        """Count one more failure of ``message``; returns the attempts it has used: the
        failures seen here, or the broker's own count when that is higher."""
        key = fingerprint(message)
        failures = self._failures.pop(key, 0) + 1
        self._failures[key] = failures
        while len(self._failures) > self.max_entries:
            self._failures.popitem(last=False)
        return max(failures, broker_attempt)

    def forget(self, message: BusMessage) -> None:
        """The message was settled for good (dead-lettered)."""
        self._failures.pop(fingerprint(message), None)
