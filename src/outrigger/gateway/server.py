"""How uvicorn serves the gateway: one ``uvicorn.Config`` and one server class for
``outrigger gateway``, ``outrigger run`` (beside the worker) and the tests, so their
transport limits and TLS handling cannot drift."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from outrigger.config.llm import GatewaySettings
from outrigger.errors import ConfigError
from outrigger.gateway.certificates import CertificateReloader, encrypted
from outrigger.gateway.header_limit import header_limited

log = logging.getLogger(__name__)
#: uvicorn's main loop ticks every 0.1 s.
_TICK_S = 0.1


def server_config(app: ASGIApp, gateway: GatewaySettings) -> uvicorn.Config:
    """``app`` on ``gateway.host``/``gateway.port`` with the gateway's header limit and
    deadline, over TLS when certificate files are configured."""
    certfile = str(gateway.tls_cert_file) if gateway.tls_cert_file else None
    keyfile = str(gateway.tls_key_file) if gateway.tls_key_file else None
    password = gateway.key_password() if keyfile else None
    if gateway.tls_key_file is not None and not password and encrypted(gateway.tls_key_file):
        # OpenSSL would prompt for it on the terminal (or fail obscurely without one).
        raise ConfigError(
            "gateway.tls_key_file is encrypted: set gateway.tls_key_password or "
            "gateway.tls_key_password_file"
        )
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
        ssl_keyfile_password=password,
    )


class HttpServer(uvicorn.Server):
    """uvicorn's server for the gateway: over TLS, it re-reads the certificate and key every
    ``gateway.tls_reload_s`` and serves a changed pair to new connections."""

    def __init__(self, config: uvicorn.Config, gateway: GatewaySettings) -> None:
        super().__init__(config)
        self._every = max(1, round(gateway.tls_reload_s / _TICK_S))
        cert, key = gateway.tls_cert_file, gateway.tls_key_file
        #: Built before uvicorn loads the files, so that a rotation during start-up is seen.
        self.certificates = (
            CertificateReloader(cert, key, gateway.key_password, config.ssl_keyfile_password)
            if cert is not None and key is not None
            else None
        )

    async def on_tick(self, counter: int) -> bool:
        reloader = self.certificates
        if reloader is not None and counter % self._every == 0:
            context = getattr(self.config, "ssl", None)  # set once the config is loaded
            if reloader.context is None and context is not None:
                reloader.attach(context)
            try:
                reloader.check()
            except Exception:  # an error here would end uvicorn's main loop: the server
                log.critical("TLS certificate check failed", exc_info=True)
        return await super().on_tick(counter)


class _HostedServer(HttpServer):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the host program's handlers stay in place


async def serve_until(app: ASGIApp, gateway: GatewaySettings, stop: asyncio.Event) -> None:
    """The gateway inside another asyncio program (``outrigger run`` with
    ``gateway.enabled``): uvicorn serves on the running loop until ``stop`` is set, then
    drains in-flight requests and returns; the program, not uvicorn, owns the signals."""
    server = _HostedServer(server_config(app, gateway), gateway)
    serving = asyncio.create_task(server.serve(), name="gateway")
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    waiting.cancel()
    await serving
