"""``outrigger demo --console``: once the demo's events are through, the gateway with its
web console is served beside the demo's worker (so replays are processed and rollbacks
followed) until Ctrl-C, with a key of the operator tenant to sign in with."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from outrigger.errors import ConfigError
from outrigger.runtime import Runtime
from outrigger.storage.tenants import Tenant, TenantStore

#: The demo's operator tenant: its keys see every tenant and the deployment's pages.
OPERATOR = "operator"
#: Told the console's address and the key to sign in with.
Announce = Callable[[str, str], None]


def operator_key(store: TenantStore) -> str:
    """A new key of the operator tenant with every console role (the tenant made if new)."""
    if store.get_tenant(OPERATOR) is None:
        store.create_tenant(Tenant(OPERATOR, "Demo operator", "enterprise"))
    roles = frozenset({"admin", "auditor", "viewer"})
    key, _ = store.create_key(OPERATOR, "demo console", roles=roles)
    return key


async def serve_console(
    runtime: Runtime, announce: Announce, stop: asyncio.Event | None = None
) -> None:
    """Serve the console until ``stop`` is set (by default: at SIGINT or SIGTERM)."""
    from outrigger.runtime.gateway import hosted_gateway

    proxy = runtime.proxy
    if proxy is None:
        raise ConfigError("the console needs the LLM proxy (gateway.enabled)")
    key = await proxy.db.run(operator_key, proxy.tenants)
    own = stop is None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if own:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    gw = runtime.settings.gateway
    announce(f"http://{gw.host}:{gw.port}/console/", key)
    try:
        await hosted_gateway(runtime, stop)
    finally:
        if own:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
