"""The composition root opens the worker's dependencies on one exit stack: a failure half-way
through start-up closes what was already open, and close() shuts down in reverse order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from outrigger.bus.sqlite.bus import SqliteBus
from outrigger.config.settings import Settings
from outrigger.errors import TransientError
from outrigger.proxy.service import LlmProxy
from outrigger.runtime import build_runtime
from outrigger.runtime import worker as runtime_worker


def settings(tmp_path: Path) -> Settings:
    # The bundled pipelines have an llm step: the proxy (and its database) is opened too.
    return Settings(data_dir=tmp_path)


def record_closes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    closed: list[str] = []
    proxy_close = LlmProxy.close

    async def close_proxy(self: LlmProxy) -> None:
        closed.append("proxy")
        await proxy_close(self)

    monkeypatch.setattr(LlmProxy, "close", close_proxy)
    open_store = runtime_worker.open_idempotency_store

    def store(*args: Any) -> Any:
        opened = open_store(*args)
        store_close = opened.close

        async def close() -> None:
            closed.append("store")
            await store_close()

        opened.close = close  # type: ignore[method-assign]
        return opened

    monkeypatch.setattr(runtime_worker, "open_idempotency_store", store)
    return closed


async def test_a_failure_half_way_through_start_up_closes_what_was_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = record_closes(monkeypatch)

    async def unreachable_bus(_: Settings) -> Any:
        raise TransientError("cannot connect to the broker")

    monkeypatch.setattr(runtime_worker, "open_bus_only", unreachable_bus)
    with pytest.raises(TransientError, match="cannot connect"):
        await build_runtime(settings(tmp_path))
    assert closed == ["store", "proxy"]


async def test_close_shuts_down_in_reverse_order_the_bus_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = record_closes(monkeypatch)
    bus_close = SqliteBus.close

    async def close_bus(self: SqliteBus) -> None:
        closed.append("bus")
        await bus_close(self)

    monkeypatch.setattr(SqliteBus, "close", close_bus)
    runtime = await build_runtime(settings(tmp_path))
    assert runtime.proxy is not None and runtime.bus.kind == "sqlite"
    await runtime.close()
    assert closed == ["bus", "store", "proxy"]
