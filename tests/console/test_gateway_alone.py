"""``outrigger gateway`` alone: the console reads the dead letters through a bus it opens
per request, says there is no worker to count events, and is absent when disabled."""

from __future__ import annotations

from pathlib import Path

import httpx

from outrigger.bus.base import BusMessage, DeadLetter
from outrigger.registry.directory import DirectoryBlobStore
from outrigger.registry.registry import Registry
from outrigger.runtime.gateway import build_gateway
from outrigger.storage.tenants import Tenant
from tests.console.harness import OPERATOR, console_settings, sign_in
from tests.console.sidecar import bus_of


async def test_the_gateway_alone_serves_the_console(data_dir: Path) -> None:
    settings = console_settings(data_dir, bus={"kind": "sqlite"})
    app = build_gateway(settings)
    proxy = app.state.proxy
    proxy.tenants.create_tenant(Tenant(OPERATOR, "Ops", "enterprise"))
    key, _ = proxy.tenants.create_key(OPERATOR, roles=frozenset({"viewer"}))
    letter = DeadLetter(BusMessage(b"not json", "loans.application.submitted"), "not_json",
                        "the body is not JSON", 1, settings.bus.queue)  # fmt: skip
    async with bus_of(settings) as (_, dlq):
        await dlq.put(letter)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        await sign_in(client, key)
        overview = (await client.get("/console/")).text
        assert "no worker in this process" in overview and 'id="dead-letters">1<' in overview
        letters = (await client.get("/console/dead-letters")).text
        assert letter.id in letters and "not_json" in letters
        assert "holds no model" in (await client.get("/console/models")).text  # files only
    proxy.db.dispose()


async def test_the_console_can_be_switched_off(data_dir: Path) -> None:
    settings = console_settings(data_dir, bus={"kind": "sqlite"}, console={"enabled": False})
    app = build_gateway(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        assert (await client.get("/console/sign-in")).status_code == 404
        assert (await client.get("/console/static/htmx.min.js")).status_code == 404
    app.state.proxy.db.dispose()


def test_an_empty_directory_registry_lists_nothing(tmp_path: Path) -> None:
    """Found by the console's models page on a fresh deployment: the registry's directory
    did not exist yet, and its parent (the data directory) was listed instead."""
    (tmp_path / "outrigger.sqlite3").write_text("not a model")
    store = DirectoryBlobStore(tmp_path / "registry")
    assert store.list("") == [] and Registry(store).names() == []
