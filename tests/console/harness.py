"""A console on the real gateway app, driven in process through httpx: the proxy on SQLite,
a memory bus with its dead-letter queue, a directory registry with two credit-risk versions."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from outrigger.bus.base import BusMessage, DeadLetter, DeadLetterQueue, EventBus, Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.settings import Settings
from outrigger.console.deps import ConsoleDeps, LetterAccess, build_console
from outrigger.gateway.app import create_app
from outrigger.proxy.service import LlmProxy, build_proxy
from outrigger.registry.gate import promote
from outrigger.registry.registry import Registry
from outrigger.registry.serving import open_registry
from outrigger.storage.tenants import Tenant
from tests.gateway_server import llm_settings
from tests.helpers import demo_pipelines
from tests.registry_models import BUNDLED

OPERATOR = "ops"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_settings(data_dir: Path, **extra: Any) -> Settings:
    console = {"operator_tenant": OPERATOR, **extra.pop("console", {})}
    bus = extra.pop("bus", {"kind": "memory"})
    return llm_settings(
        data_dir, {"primary": "http://127.0.0.1:9/v1"}, console=console, bus=bus, **extra
    )


def two_versions(settings: Settings) -> Registry:
    registry = open_registry(settings)
    for version in ("1.0.0", "1.1.0"):
        registry.publish(BUNDLED, "credit-risk", version)
        promote(registry, "credit-risk", version, "stable")
    return registry


@dataclass
class Harness:
    settings: Settings
    proxy: LlmProxy
    bus: EventBus
    dlq: DeadLetterQueue
    registry: Registry
    deps: ConsoleDeps
    app: Any

    def key(self, tenant: str = OPERATOR, *roles: str) -> str:
        store = self.proxy.tenants
        if store.get_tenant(tenant) is None:
            store.create_tenant(Tenant(tenant, tenant.title(), "enterprise"))
        key, _ = store.create_key(tenant, "test", roles=frozenset(roles))
        return key

    def client(self, scheme: str = "http") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://testserver")

    async def dead_letter(self, body: bytes = b'{"broken": ') -> DeadLetter:
        message = BusMessage(body, "loans.application.submitted")
        letter = DeadLetter(message, "not_json", "the body is not JSON", 1, "outrigger.pipelines")
        await self.dlq.put(letter)
        return letter

    def admin_records(self) -> list[dict[str, Any]]:
        return [r for r in self.proxy.audit.records() if r["status"] == "admin"]


def build_harness(data_dir: Path, **extra: Any) -> Harness:
    settings = console_settings(data_dir, **extra)
    proxy = build_proxy(settings)
    bus, dlq = open_bus(settings.bus, settings.data_dir)
    registry = two_versions(settings)
    pipelines = demo_pipelines()
    target = Subscription(settings.bus.queue, settings.bus.exchange, pipelines.bindings())
    letters = LetterAccess(lambda: contextlib.nullcontext(dlq), target)
    deps = build_console(
        settings, proxy, pipelines, proxy.metrics, registry=registry, letters=letters,
        asyncapi=lambda: {"asyncapi": "3.0.0"},
    )  # fmt: skip
    app = create_app(pipelines, None, proxy.metrics, proxy, console=deps)
    return Harness(settings, proxy, bus, dlq, registry, deps, app)


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await client.get("/console/sign-in")
    token = CSRF.search(form.text)
    assert token is not None, form.text
    return await client.post("/console/sign-in", data={"csrf_token": token.group(1), "key": key})


async def csrf_of(client: httpx.AsyncClient) -> str:
    page = await client.get("/console/tenants")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)
