"""PostgreSQL faults under a worker (idempotency store) and a gateway (tenants, ledger and
audit trail): the process's backends terminated, and the database unreachable for a while
(through a TCP proxy this process cuts and restores).

Both reach PostgreSQL through the proxy, in a schema of their own, with
``application_name=outrigger-chaos-<tag>``: ``pg_terminate_backend`` picks their backends
by that name and no one else's. Nothing may be lost: every event gets its one result, and
every call the gateway answered is in the ledger and the audit trail — late, not never.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tests.chaos.calls import Callers, new_key, start_gateway, wait_recorded
from tests.chaos.events import EventStage, event_stage
from tests.chaos.model import Row, row_from
from tests.chaos.tcp_proxy import TcpProxy
from tests.gateway_server import GatewayServer
from tests.upstream import UpstreamThread

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class PgStage:
    events: EventStage
    gateway: GatewayServer
    callers: Callers
    proxy: TcpProxy
    app_name: str
    tenant: str

    def terminate(self) -> int:
        """Terminate every backend of this run's processes; how many there were."""
        engine = sa.create_engine(POSTGRES)
        try:
            with engine.begin() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": self.app_name},
                ).fetchall()
        finally:
            engine.dispose()
        return len(rows)


@contextlib.contextmanager
def proxied_schema(schema: str, app_name: str) -> Iterator[tuple[str, TcpProxy]]:
    """A URL to a new schema ``schema`` reached through a TCP proxy this process can cut,
    and the proxy; the schema is dropped afterwards."""
    admin = sa.create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    proxy = TcpProxy("127.0.0.1", 5432).start()
    url = (
        f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/test"
        f"?application_name={app_name}&options=-csearch_path%3D{schema}"
    )
    try:
        yield url, proxy
    finally:
        proxy.stop()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextlib.asynccontextmanager
async def pg_stage(data_dir: Path, concurrency: int) -> AsyncIterator[PgStage]:
    tag = uuid.uuid4().hex[:8]
    app_name = f"outrigger-chaos-{tag}"
    with proxied_schema(f"chaos_{tag}", app_name) as (url, proxy):
        async with _gateway_and_events(data_dir, concurrency, url, proxy, app_name, tag) as stage:
            yield stage


@contextlib.asynccontextmanager
async def _gateway_and_events(
    data_dir: Path, concurrency: int, url: str, proxy: TcpProxy, app_name: str, tag: str
) -> AsyncIterator[PgStage]:
    upstream = UpstreamThread().start()
    gateway = None
    try:
        gateway = start_gateway(
            data_dir / "gateway", {"primary": upstream},
            storage={"url": url}, tenancy={"auth_cache_s": 600},
        )  # fmt: skip
        tenant = f"chaos-{tag}"
        callers = Callers(gateway.url, new_key(gateway, tenant), concurrency)
        async with event_stage(data_dir / "events", OUTRIGGER_STORAGE__URL=url) as events:
            yield PgStage(events, gateway, callers, proxy, app_name, tenant)
    finally:
        if gateway is not None:
            gateway.stop()
        upstream.stop()


async def _run(
    data_dir: Path,
    fault: str,
    events: int,
    concurrency: int,
    inject: Callable[[PgStage], Awaitable[dict[str, object]]],
) -> Row:
    async with pg_stage(data_dir, concurrency) as stage:
        await stage.events.queue_events(events)
        stage.events.collect()
        stage.events.start_worker()
        stage.callers.start()
        assert await stage.events.wait_results(events // 4, 180)
        assert await stage.events.wait(lambda: len(stage.callers.call_ids) >= 20, 60)
        figures = await inject(stage)
        over = time.monotonic()
        answered_by_then = list(stage.callers.call_ids)
        caught_up = await wait_recorded(stage.gateway, stage.tenant, answered_by_then, 120)
        recorded_s = round(time.monotonic() - over, 3)
        complete = await stage.events.wait_complete(300)
        await stage.callers.finish()
        calls = stage.callers
        record = await wait_recorded(stage.gateway, stage.tenant, calls.call_ids, 120)
        row = await stage.events.row(fault, complete, [stage.events.results.flowing_after(over)])
        lost_calls = max(record.ledger_missing, record.audit_missing)
        return row_from(
            fault,
            stage.events.results,
            recorded_s if caught_up.audit_missing == caught_up.ledger_missing == 0 else None,
            calls.errors,
            **row.extra,
            calls=calls.started,
            calls_answered=len(calls.call_ids),
            calls_lost=lost_calls,
            ledger_missing=record.ledger_missing,
            audit_missing=record.audit_missing,
            audit_duplicates=record.audit_duplicates,
            audit_chain_intact=record.chain_intact,
            events_flowing_s=row.recovery_s,
            caller_errors=dict(calls.codes),
            **figures,
        ).with_calls(lost_calls, record.audit_duplicates, len(calls.call_ids))


async def terminated(
    data_dir: Path, events: int = 2_000, concurrency: int = 8, rounds: int = 3
) -> Row:
    """Terminate the process's backends ``rounds`` times, half a second apart."""

    async def inject(stage: PgStage) -> dict[str, object]:
        killed = 0
        for _ in range(rounds):
            killed += await asyncio.to_thread(stage.terminate)
            await asyncio.sleep(0.5)
        return {"backends_terminated": killed}

    return await _run(data_dir, "postgres: backends terminated", events, concurrency, inject)


async def unreachable(
    data_dir: Path, events: int = 2_000, concurrency: int = 8, down_s: float = 5.0
) -> Row:
    """Cut the database off for ``down_s`` (connections reset, new ones refused)."""

    async def inject(stage: PgStage) -> dict[str, object]:
        before = len(stage.callers.call_ids)
        await asyncio.to_thread(stage.proxy.cut)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(stage.proxy.restore)
        return {
            "down_s": down_s,
            "answered_while_down": len(stage.callers.call_ids) - before,
            "refused_connections": stage.proxy.refused,
        }

    return await _run(data_dir, "postgres: unreachable", events, concurrency, inject)
