"""How uvicorn serves the gateway: one ``uvicorn.Config`` for ``outrigger gateway``,
``outrigger run`` (beside the worker) and the tests, so their transport limits cannot drift."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from outrigger.config.llm import GatewaySettings
from outrigger.gateway.header_limit import header_limited


def server_config(app: ASGIApp, gateway: GatewaySettings) -> uvicorn.Config:
    """``app`` on ``gateway.host``/``gateway.port`` with the gateway's header limit and
    deadline, over TLS when certificate files are configured."""
    certfile = str(gateway.tls_cert_file) if gateway.tls_cert_file else None
    keyfile = str(gateway.tls_key_file) if gateway.tls_key_file else None
    return uvicorn.Config(
        app,
        host=gateway.host,
        port=gateway.port,
        log_level="warning",
        access_log=False,
        # The fast stack (uvicorn[standard] ships both): uvloop's event loop and the httptools
        # parser, with the header limit httptools lacks; "auto" would fall back silently to
        # asyncio and h11. ``serve_until`` runs on the caller's loop whatever this says.
        loop="uvloop",
        http=header_limited(gateway.max_header_bytes, gateway.header_timeout_s),
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )


class _HostedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the host program's handlers stay in place


async def serve_until(config: uvicorn.Config, stop: asyncio.Event) -> None:
    """The gateway inside another asyncio program (``outrigger run`` with
    ``gateway.enabled``): uvicorn serves on the running loop until ``stop`` is set, then
    drains in-flight requests and returns; the program, not uvicorn, owns the signals."""
    server = _HostedServer(config)
    serving = asyncio.create_task(server.serve(), name="gateway")
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    waiting.cancel()
    await serving
