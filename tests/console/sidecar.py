"""``outrigger run`` (worker, model watcher and gateway with its console) in a thread of the
test process, on the embedded SQLite bus, with credit-risk served from the registry."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml

from outrigger.bus.base import BusMessage, DeadLetter, DeadLetterQueue, EventBus, Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.load import default_pipelines_file
from outrigger.config.settings import Settings
from outrigger.runtime import serve
from tests.gateway_server import llm_settings

RESULTS = "browser-test.results"
T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a loop of its own in another thread (Playwright's sync
    API keeps an event loop running in the test's thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def registry_pipelines(directory: Path) -> Path:
    doc = yaml.safe_load(default_pipelines_file().read_text())
    doc["models"]["credit-risk"] = {"registry": "credit-risk", "ref": "stable"}
    path = directory / "pipelines.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def sidecar_settings(data_dir: Path, upstream_url: str, port: int) -> Settings:
    return llm_settings(
        data_dir, {"primary": upstream_url},
        pipelines_file=registry_pipelines(data_dir), bus={"kind": "sqlite"},
        registry={"poll_s": 0.1}, telemetry={"metrics_port": 0},
        gateway={"enabled": True, "host": "127.0.0.1", "port": port, "flush_interval_s": 0.05},
        console={"operator_tenant": "ops"}, embeddings={"serve": False},
    )  # fmt: skip


class Sidecar:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sidecar")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self.error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await serve(self.settings, self._stop)

    def start(self, timeout_s: float = 90) -> Sidecar:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.error is not None:
                raise RuntimeError("the sidecar did not start") from self.error
            try:
                with socket.create_connection(("127.0.0.1", self.settings.gateway.port), 0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the sidecar's gateway did not open its port")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@asynccontextmanager
async def bus_of(settings: Settings) -> AsyncIterator[tuple[EventBus, DeadLetterQueue]]:
    """A second handle on the sidecar's SQLite bus (the file is shared, as between processes)."""
    bus, dlq = open_bus(settings.bus, settings.data_dir)
    await bus.start()
    try:
        yield bus, dlq
    finally:
        await bus.close()


async def declare_results(settings: Settings) -> None:
    async with bus_of(settings) as (bus, _):
        await bus.declare(Subscription(RESULTS, settings.bus.results_to, ("ai.#",)))


async def put_letter(settings: Settings, message: BusMessage) -> DeadLetter:
    letter = DeadLetter(message, "retries_exhausted", "the LLM was down (test)", 5,
                        settings.bus.queue, "credit-risk-assessment")  # fmt: skip
    async with bus_of(settings) as (_, dlq):
        await dlq.put(letter)
    return letter


async def publish(settings: Settings, message: BusMessage) -> None:
    async with bus_of(settings) as (bus, _):
        await bus.publish(message, exchange=settings.bus.exchange)


async def next_result(settings: Settings, source_id: str, timeout_s: float = 20) -> dict[str, Any]:
    """The result event of the source event ``source_id`` (others are acknowledged)."""
    async with bus_of(settings) as (bus, _):
        sub = Subscription(RESULTS, settings.bus.results_to, ("ai.#",))
        stream = bus.consume(sub, prefetch=50)

        async def find() -> dict[str, Any]:
            async for delivery in stream:
                await delivery.ack()
                data: dict[str, Any] = json.loads(delivery.message.body)["data"]
                if data.get("source_event_id") == source_id:
                    return data
            raise AssertionError("the results stream ended")

        return await asyncio.wait_for(find(), timeout_s)
