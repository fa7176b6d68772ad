"""Budget alerts, the sidecar way: a ``com.outrigger.budget.ThresholdReached`` CloudEvent on
the bus, and optionally a webhook signed with HMAC-SHA256.

Alerts are sent off the call (a call never waits for, or fails because of, an alert), each
retried a few times; one that still cannot be delivered is logged with its content. An
alert's id is derived from what it is about (tenant, scope, month, threshold), so a consumer
can de-duplicate an alert delivered twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from outrigger.bus.base import BusMessage, EventBus
from outrigger.optional import require

ALERT_TYPE = "com.outrigger.budget.ThresholdReached"
CLOUDEVENTS_JSON = "application/cloudevents+json"
SIGNATURE_HEADER = "X-Outrigger-Signature"
ATTEMPTS = 4
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BudgetAlert:
    tenant: str
    scope: str  # tenant | key | feature
    name: str  # the tenant id, the key's prefix or the feature
    month: str  # YYYY-MM (UTC)
    threshold: float  # the share of the budget crossed (0.8, 1.0)
    spent_usd: float
    budget_usd: float

    @property
    def id(self) -> str:
        key = f"{self.tenant}\x1f{self.scope}\x1f{self.name}\x1f{self.month}\x1f{self.threshold}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def cloudevent(self) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": self.id,
            "type": ALERT_TYPE,
            "source": "outrigger/gateway",
            "subject": f"{self.scope}/{self.name}",
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": asdict(self),
        }


class AlertSink(Protocol):
    def send(self, alert: BudgetAlert) -> None:
        """Deliver in the background; never raises, never blocks the call."""
        ...

    async def close(self) -> None:
        """Wait for the alerts still on their way, then release connections."""
        ...


class MemoryAlerts:
    """Keeps the alerts: for tests and for a laptop without a bus."""

    def __init__(self) -> None:
        self.sent: list[BudgetAlert] = []

    def send(self, alert: BudgetAlert) -> None:
        self.sent.append(alert)

    async def close(self) -> None:
        return None


class _Background:
    """Runs each delivery as a task with retries; ``close`` waits for those still running."""

    def __init__(self, what: str, deliver: Callable[[BudgetAlert], Awaitable[None]]) -> None:
        self._what = what
        self._deliver = deliver
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, alert: BudgetAlert) -> None:
        task = asyncio.get_running_loop().create_task(self._with_retries(alert))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _with_retries(self, alert: BudgetAlert) -> None:
        for attempt in range(ATTEMPTS):
            try:
                await self._deliver(alert)
                return
            except Exception as exc:  # the broker or the webhook is away: try again
                failure = exc
                await asyncio.sleep(0.2 * 2**attempt)
        log.error(
            "budget alert not delivered to the %s (%s: %s): %s",
            self._what,
            type(failure).__name__,
            failure,
            json.dumps(asdict(alert)),
        )

    async def wait(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class BusAlerts:
    """CloudEvents on the bus (``exchange`` with ``routing_key``); the bus is opened and
    connected at the first alert, so a gateway starts without its broker."""

    def __init__(self, bus: Callable[[], EventBus], exchange: str, routing_key: str) -> None:
        self._open = bus
        self._bus: EventBus | None = None
        self._exchange = exchange
        self._routing_key = routing_key
        self._lock = asyncio.Lock()
        self._background = _Background("bus", self._publish)

    def send(self, alert: BudgetAlert) -> None:
        self._background.send(alert)

    async def _publish(self, alert: BudgetAlert) -> None:
        async with self._lock:
            if self._bus is None:
                bus = self._open()
                await bus.start()
                self._bus = bus
        body = json.dumps(alert.cloudevent(), separators=(",", ":")).encode()
        message = BusMessage(body, self._routing_key, {}, alert.id, CLOUDEVENTS_JSON)
        await self._bus.publish(message, exchange=self._exchange)

    async def close(self) -> None:
        await self._background.wait()
        if self._bus is not None:
            await self._bus.close()
            self._bus = None


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookAlerts:
    """POSTs the CloudEvent (structured JSON) with ``X-Outrigger-Signature: sha256=<hex>``,
    the HMAC-SHA256 of the body under the shared secret."""

    def __init__(self, url: str, secret: str, timeout_s: float = 5.0) -> None:
        self._url = url
        self._secret = secret
        self._timeout_s = timeout_s
        self._session: Any = None
        self._background = _Background("webhook", self._post)

    def send(self, alert: BudgetAlert) -> None:
        self._background.send(alert)

    async def _post(self, alert: BudgetAlert) -> None:
        aiohttp = require("aiohttp", "gateway")
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self._timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout)
        body = json.dumps(alert.cloudevent(), separators=(",", ":")).encode()
        headers = {
            "Content-Type": CLOUDEVENTS_JSON,
            SIGNATURE_HEADER: signature(self._secret, body),
        }
        async with self._session.post(self._url, data=body, headers=headers) as response:
            if response.status >= 300:
                raise RuntimeError(f"webhook answered {response.status}")

    async def close(self) -> None:
        await self._background.wait()
        if self._session is not None:
            await self._session.close()


class FanOut:
    def __init__(self, sinks: Sequence[AlertSink]) -> None:
        self.sinks = list(sinks)

    def send(self, alert: BudgetAlert) -> None:
        log.warning(
            "budget alert: %s %s of tenant %s crossed %d%% (%.4f of %.2f USD in %s)",
            alert.scope,
            alert.name,
            alert.tenant,
            round(alert.threshold * 100),
            alert.spent_usd,
            alert.budget_usd,
            alert.month,
        )
        for sink in self.sinks:
            sink.send(alert)

    async def close(self) -> None:
        for sink in self.sinks:
            await sink.close()
