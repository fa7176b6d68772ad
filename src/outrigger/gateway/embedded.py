"""The gateway inside another asyncio program (``outrigger run`` with ``gateway.enabled``):
uvicorn serves on the running loop and stops when the program's stop event is set; the
program, not uvicorn, owns the signal handlers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the host program's handlers stay in place


async def serve_until(app: FastAPI, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve ``app`` until ``stop`` is set, then drain in-flight requests and return."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, http="httptools"
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(), name="gateway")
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    waiting.cancel()
    await serving
