"""A limit on the request line and headers for uvicorn's httptools protocol.

llhttp (under httptools) has no limit of its own, and httptools joins the pieces of a header
value with ``bytes +=`` as they arrive: a 64 MB header cost seconds of CPU on the event loop
before the app saw anything. uvicorn offers a knob for h11 only
(``h11_max_incomplete_event_size``), so this subclass counts the bytes itself:

* while a request's head is incomplete, every chunk read is counted; past the limit the client
  gets a 431 and the connection is closed, so at most one read (≤ 256 KiB) beyond the limit
  is ever parsed;
* the URL and headers the parser hands over are counted exactly, so a head that arrives in
  one read is held to the limit too: it never becomes a request, the client gets a 431.

It also holds the head to a deadline (uvicorn has none: a connection that sends nothing, or a
header a byte at a time, would be held open for ever): from the moment the connection opens,
from each response's end and from each request's first byte, the next request line and
headers must all be in within ``head_timeout_s``, else the client gets a 408 (or, when not
even a request had begun, the connection is just closed). A body the route never read, or a
stray line after a response, is not a head and cannot hold the connection either.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from outrigger.gateway.errors import error_body

#: Per header line: the ": " and CRLF llhttp has already stripped.
_LINE_OVERHEAD = 4


def header_limited(limit: int, timeout_s: float = 10.0) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, refusing a request line plus headers over ``limit``
    bytes or not all in within ``timeout_s`` (uvicorn builds one protocol per
    connection, so these are class attributes)."""

    class Limited(HeaderLimitedProtocol):
        max_bytes = limit
        head_timeout_s = timeout_s

    return Limited


class HeaderLimitedProtocol(HttpToolsProtocol):
    max_bytes = 65_536
    head_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # between a request's first byte and the end of its headers
        self._read = 0  # bytes read while the head is incomplete
        self._parsed = 0  # URL and header bytes the parser has handed over
        self._over = False  # this request's head is over the limit: it never reaches the app
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.head_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm()  # the next head has the deadline too, counted from now

    def _too_slow(self) -> None:
        """The head is not all in: 408 and close (before anything came: close only)."""
        self._deadline = None
        if self._refused or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete and not self._in_head:
            return  # a request is being answered; its end re-arms the deadline
        self._refused = True
        if self._in_head:
            self._answer(408, f"request head not received within {self.head_timeout_s:g} s",
                         "request_timeout")  # fmt: skip
        else:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what follows a refused head is never parsed
        if self._in_head:
            self._read += len(data)
        super().data_received(data)
        if self._over or (self._in_head and self._read > self.max_bytes):
            self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._read, self._parsed = True, 0, 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + _LINE_OVERHEAD)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        if not self._over:  # else no request cycle starts: data_received answers 431
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._over:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._over:
            super().on_message_complete()

    def _count(self, size: int) -> None:
        self._parsed += size
        self._over = self._over or self._parsed > self.max_bytes

    def _refuse(self) -> None:
        """Answer 431 and close (the parser is fed nothing more)."""
        self._refused = True
        if self.transport.is_closing():
            return  # uvicorn refused it first (a parse error: 400)
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request behind a response still being sent: no 431 can be put in
            # the middle of it; the connection closes once it is complete.
            self.cycle.keep_alive = False
            return
        self._answer(
            431,
            f"request line and headers over {self.max_bytes} bytes",
            "request_header_fields_too_large",
        )

    def _answer(self, status: int, message: str, code: str) -> None:
        """An error answer written straight to the transport, then the connection closed."""
        body = json.dumps(error_body(message, "invalid_request_error", code=code)).encode()
        head = [STATUS_LINE[status]]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
