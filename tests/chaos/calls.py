"""Gateway calls under a fault: concurrent callers through the real gateway (in a thread of
this process) to the OpenAI-compatible stand-in, and what the ledger and audit recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.gateway_server import GatewayServer, llm_settings
from tests.upstream import UpstreamThread


def start_gateway(
    data_dir: Path, upstreams: dict[str, UpstreamThread], **extra: Any
) -> GatewayServer:
    settings = llm_settings(data_dir, {n: u.url for n, u in upstreams.items()}, **extra)
    return GatewayServer(settings).start()


def new_key(gw: GatewayServer, tenant: str, tier: str = "enterprise") -> str:
    from outrigger.storage.tenants import Tenant

    if gw.proxy.tenants.get_tenant(tenant) is None:
        gw.proxy.tenants.create_tenant(Tenant(tenant, tenant.title(), tier, None))
    key, _ = gw.proxy.tenants.create_key(tenant, "chaos")
    return key


@dataclass
class Callers:
    """``concurrency`` callers of one tenant, calling until ``stop`` (or ``limit`` calls)."""

    url: str
    key: str
    concurrency: int = 8
    feature: str = "chat"
    model: str = "chat-default"
    limit: int | None = None
    pace_s: float = 0.0  # each caller waits this long between its calls
    timeout_s: float = 30.0
    call_ids: list[str] = field(default_factory=list)  # of answered (200) calls
    statuses: Counter[int] = field(default_factory=Counter)  # 0: no HTTP answer
    codes: Counter[str] = field(default_factory=Counter)  # error codes of refusals
    #: (start, seconds, status, deployment that answered or "") of every call.
    latencies: list[tuple[float, float, int, str]] = field(default_factory=list)
    started: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)

    def start(self) -> None:
        client = httpx.AsyncClient(base_url=self.url, timeout=self.timeout_s)
        self._client = client
        self._tasks = [asyncio.create_task(self._call_loop()) for _ in range(self.concurrency)]

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    async def _call_loop(self) -> None:
        while not self.stop.is_set() and (self.limit is None or self.started < self.limit):
            self.started += 1
            await self.call()
            if self.pace_s:
                await asyncio.sleep(self.pace_s)

    async def call(self, text: str = "hello there") -> int:
        body = {"model": self.model, "messages": [{"role": "user", "content": text}]}
        headers = {"Authorization": f"Bearer {self.key}", "X-Outrigger-Feature": self.feature}
        began, deployment = time.monotonic(), ""
        try:
            answer = await self._client.post("/v1/chat/completions", json=body, headers=headers)
        except httpx.HTTPError:
            status = 0
        else:
            status = answer.status_code
            if status == 200:
                self.call_ids.append(answer.headers["x-outrigger-call-id"])
                deployment = answer.headers.get("x-outrigger-deployment", "")
            else:
                try:
                    self.codes[str(answer.json()["error"].get("code"))] += 1
                except Exception:
                    self.codes["?"] += 1
        self.statuses[status] += 1
        self.latencies.append((began, time.monotonic() - began, status, deployment))
        return status

    def seconds_between(self, start: float, end: float) -> list[float]:
        """Latencies of the calls that began in [start, end)."""
        return [d for s, d, _, _ in self.latencies if start <= s < end]


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 4)


@dataclass
class Recorded:
    """Which answered calls the ledger and the audit trail hold."""

    ledger_missing: int
    audit_missing: int
    audit_duplicates: int  # call ids with more than one audit record
    chain_intact: bool


def recorded(gw: GatewayServer, tenant: str, call_ids: list[str]) -> Recorded:
    import sqlalchemy as sa

    from outrigger.storage.schema import audit_log, llm_calls

    with gw.proxy.db.engine.connect() as conn:
        ledger = {
            r[0]
            for r in conn.execute(sa.select(llm_calls.c.id).where(llm_calls.c.tenant_id == tenant))
        }
        audits = Counter(
            r[0]
            for r in conn.execute(
                sa.select(audit_log.c.call_id).where(audit_log.c.tenant_id == tenant)
            )
        )
    _, broken = gw.proxy.audit.verify()
    wanted = set(call_ids)
    return Recorded(
        len(wanted - ledger),
        len(wanted - audits.keys()),
        sum(1 for n in audits.values() if n > 1),
        broken is None,
    )


async def wait_recorded(
    gw: GatewayServer, tenant: str, call_ids: list[str], timeout_s: float
) -> Recorded:
    """Poll until every answered call is in the ledger and the audit trail (or time out)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            got = await asyncio.to_thread(recorded, gw, tenant, list(call_ids))
        except Exception:  # the database is still out of reach
            got = None
        if got is not None and (
            (got.ledger_missing == 0 and got.audit_missing == 0) or time.monotonic() > deadline
        ):
            return got
        if got is None and time.monotonic() > deadline:
            raise AssertionError("the database stayed unreachable")
        await asyncio.sleep(0.2)
