"""Load without a fault: a backlog waiting before the worker starts, and a soak of mixed
gateway and event load. Both watch the worker process's memory and file descriptors.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.chaos.calls import Callers, percentile
from tests.chaos.events import EventStage, event_stage, make_events
from tests.chaos.model import Row, process_figures, row_from
from tests.upstream import UpstreamThread


@dataclass
class Watch:
    """Samples a process's RSS (MiB) and open file descriptors every ``every_s``."""

    pid: int
    every_s: float = 0.5
    rss: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                figures = process_figures(self.pid)
            except (ProcessLookupError, StopIteration):
                return
            self.rss.append(figures["rss_mib"])
            self.fds.append(int(figures["fds"]))
            await asyncio.sleep(self.every_s)


def _rates(firsts: list[float], parts: int = 5) -> list[float]:
    """Results per second in each of ``parts`` equal slices of the results."""
    if len(firsts) < parts * 2:
        return []
    size = len(firsts) // parts
    rates = []
    for i in range(parts):
        chunk = firsts[i * size : (i + 1) * size]
        span = chunk[-1] - chunk[0]
        rates.append(round(len(chunk) / span, 1) if span > 0 else 0.0)
    return rates


async def backlog(data_dir: Path, events: int = 100_000) -> Row:
    """Queue ``events`` before the worker starts; drain them, watching its memory."""
    async with event_stage(data_dir) as stage:
        await stage.queue_events(events)
        stage.collect()
        started = time.monotonic()
        worker = stage.start_worker()
        assert worker.proc is not None
        watch, stop = Watch(worker.proc.pid), asyncio.Event()
        watcher = asyncio.create_task(watch.run(stop))
        complete = await stage.wait_complete(max(300, events / 50))
        firsts = stage.results.firsts
        stop.set()
        await watcher
        rates = _rates(firsts)
        drained_s = firsts[-1] - firsts[0] if len(firsts) > 1 else 0.0
        return await stage.row(
            "backlog drained",
            complete,
            [None],
            backlog=events,
            start_s=round(firsts[0] - started, 1) if firsts else None,
            drain_s=round(drained_s, 1),
            events_per_s=round(len(firsts) / drained_s, 1) if drained_s else None,
            rate_per_fifth=rates,
            steadiness=round(min(rates) / max(rates), 2) if rates and max(rates) else None,
            rss_start_mib=watch.rss[0] if watch.rss else None,
            rss_peak_mib=max(watch.rss, default=None),
            rss_end_mib=watch.rss[-1] if watch.rss else None,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hosted_gateway_env(stage_dir: Path, upstream: UpstreamThread, port: int) -> dict[str, str]:
    config = stage_dir / "soak.json"  # JSON is YAML
    config.write_text(
        json.dumps({
            "llm": {
                "providers": {"primary": {"kind": "openai", "base_url": upstream.url}},
                "deployments": {"primary": {"provider": "primary", "model": "m"}},
                "aliases": {"chat-default": ["primary"]},
            },
            "gateway": {"enabled": True, "host": "127.0.0.1", "port": port},
        })
    )  # fmt: skip
    return {"OUTRIGGER_CONFIG_FILE": str(config)}


def _soak_key(data_dir: Path) -> str:
    from outrigger.config.settings import Settings
    from outrigger.proxy.service import proxy_database
    from outrigger.storage.tenants import Tenant, TenantStore

    db = proxy_database(Settings.model_validate({"data_dir": data_dir}))
    try:
        tenants = TenantStore(db)
        tenants.create_tenant(Tenant("soak", "Soak", "enterprise", None))
        key, _ = tenants.create_key("soak", "soak")
        return key
    finally:
        db.dispose()


async def soak(
    data_dir: Path, seconds: float = 600.0, events_per_s: float = 100.0, calls_per_s: float = 50.0
) -> Row:
    """``outrigger run`` hosting the gateway, fed events and calls at a steady pace for
    ``seconds``; RSS and open file descriptors of that process at start and end."""
    upstream = UpstreamThread().start()
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = await asyncio.to_thread(_soak_key, data_dir)
    env = _hosted_gateway_env(data_dir, upstream, port)
    try:
        async with event_stage(data_dir, **env) as stage:
            stage.collect()
            worker = stage.start_worker()
            assert worker.proc is not None
            await _ready(stage, f"http://127.0.0.1:{port}/readyz")
            callers = Callers(f"http://127.0.0.1:{port}", key, 4, pace_s=4 / calls_per_s)
            return await _soak_run(stage, callers, worker.proc.pid, seconds, events_per_s)
    finally:
        upstream.stop()


async def _soak_run(
    stage: EventStage, callers: Callers, pid: int, seconds: float, events_per_s: float
) -> Row:
    watch, stop = Watch(pid, every_s=1.0), asyncio.Event()
    watcher = asyncio.create_task(watch.run(stop))
    callers.start()
    feeder = asyncio.create_task(_feed(stage, seconds, events_per_s))
    await asyncio.sleep(min(10.0, seconds / 4))  # warmed up: imports, pools, caches
    at_start = process_figures(pid)
    await feeder
    at_end = process_figures(pid)
    await callers.finish()
    complete = await stage.wait_complete(120)
    stop.set()
    await watcher
    row = await stage.row("soak (mixed gateway + events)", complete, [None])
    return row_from(
        row.fault,
        stage.results,
        None,
        callers.errors,
        **row.extra,
        seconds=seconds,
        calls=callers.started,
        calls_answered=len(callers.call_ids),
        call_p50_s=percentile([d for _, d, _, _ in callers.latencies], 0.5),
        rss_start_mib=at_start["rss_mib"],
        rss_end_mib=at_end["rss_mib"],
        rss_peak_mib=max(watch.rss, default=None),
        fds_start=at_start["fds"],
        fds_end=at_end["fds"],
    )


async def _feed(stage: EventStage, seconds: float, per_s: float) -> None:
    """Publish events at ``per_s`` for ``seconds`` (in tenths of a second)."""
    assert stage.bus is not None
    began, sent, seed = time.monotonic(), 0, 7
    while (elapsed := time.monotonic() - began) < seconds:
        due = int(elapsed * per_s) - sent
        if due > 0:
            expected, messages = make_events(due, seed)
            seed += 1
            stage.results.expected.update(expected)
            await asyncio.gather(*(stage.bus.publish(m, exchange=stage.exchange) for m in messages))
            sent += due
        await asyncio.sleep(0.1)


async def _ready(stage: EventStage, url: str, timeout_s: float = 60) -> None:
    async with httpx.AsyncClient() as client:

        async def up() -> bool:
            try:
                return (await client.get(url)).status_code == 200
            except httpx.HTTPError:
                return False

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await up():
                return
            await stage.wait(lambda: False, 0.2)
    raise AssertionError("the hosted gateway did not become ready")
