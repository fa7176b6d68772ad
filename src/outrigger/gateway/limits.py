"""The request body limit, enforced while the body is read, whatever its transfer encoding.

A ``Content-Length`` over the limit is refused before anything is read. A chunked body (or one
whose length header lies) is counted as it arrives: the 413 leaves as soon as the count passes
the limit, the connection is closed so the client stops sending, and the route that was reading
gets ``BodyTooLarge`` instead of the rest. Whatever the route answers after that (FastAPI turns
an error while it reads a body parameter into a 400) is dropped: the 413 is the one answer.

The body is also held to a deadline: it must all arrive within ``body_timeout_s`` of the
route's first read, else the client gets a 408 (the same way: answered, connection closed,
the route cut short). Only the body's reads are timed, never the wait for a disconnect a
streaming answer listens for.
"""

from __future__ import annotations

import asyncio
import time

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outrigger.gateway.errors import error_body


class BodyRefused(Exception):
    """Raised to the route reading a body the limits refused (already answered)."""


class BodyTooLarge(BodyRefused):
    """The body passed the size limit (answered 413)."""


class BodyTooSlow(BodyRefused):
    """The body did not arrive in time (answered 408)."""


class BodyLimit:
    """A plain ASGI middleware: ``@app.middleware("http")`` (BaseHTTPMiddleware) costs a task
    group and wrapped receive/send channels on every request."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_over(scope):
            await self._too_large(scope, receive, send)
            return
        counted = _CountedRequest(self, scope, receive, send)
        try:
            await self.app(scope, counted.receive, counted.send)
        except Exception as exc:
            # Answered already (413), or a response cut short (uvicorn closes the connection).
            if not _caused_by_the_limit(exc):
                raise

    def _declared_over(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return bool(value.isdigit() and int(value) > self.max_bytes)
        return False

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body over {self.max_bytes} bytes"
        await _refuse(413, message, "request_too_large", scope, receive, send)


async def _refuse(
    status: int, message: str, code: str, scope: Scope, receive: Receive, send: Send
) -> None:
    body = error_body(message, "invalid_request_error", code=code)
    # Connection: close, so the rest of the body is never read (uvicorn closes after it).
    response = JSONResponse(body, status_code=status, headers={"Connection": "close"})
    await response(scope, receive, send)


class _CountedRequest:
    """One request's ``receive`` (counting body bytes) and ``send`` (silent once the 413 is
    sent, so the route's own answer to the cut body never follows it)."""

    def __init__(self, limit: BodyLimit, scope: Scope, receive: Receive, send: Send) -> None:
        self.limit, self.scope, self._receive, self._send = limit, scope, receive, send
        self.seen = 0
        self.started = False  # the route has started its response
        self.answered = False  # the 413 or 408 is sent
        self.body_done = False  # the last body part arrived
        self.deadline: float | None = None  # when the body must be in (from the first read)

    async def receive(self) -> Message:
        if self.body_done:
            return await self._receive()  # e.g. a streaming answer waiting for a disconnect
        message = await self._timed_receive()
        if message["type"] == "http.request":
            self.body_done = not message.get("more_body", False)
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit.max_bytes:
                if not self.started and not self.answered:
                    self.answered = True
                    await self.limit._too_large(self.scope, self._receive, self._send)
                raise BodyTooLarge(f"request body over {self.limit.max_bytes} bytes")
        return message

    async def _timed_receive(self) -> Message:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.limit.body_timeout_s
        try:
            async with asyncio.timeout(max(0.0, self.deadline - time.monotonic())):
                return await self._receive()
        except TimeoutError:
            message = f"request body not received within {self.limit.body_timeout_s:g} s"
            if not self.started and not self.answered:
                self.answered = True
                await _refuse(
                    408, message, "request_timeout", self.scope, self._receive, self._send
                )
            raise BodyTooSlow(message) from None

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def _caused_by_the_limit(exc: BaseException) -> bool:
    """Whether ``BodyRefused`` is ``exc`` or in its chain (a route may wrap it)."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:
        if isinstance(link, BodyRefused):
            return True
        chain.append(link)
        link = link.__cause__ or link.__context__
    return False
