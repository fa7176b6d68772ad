"""The chaos tests' TCP proxy (tests/chaos/tcp_proxy.py): passes bytes through, cuts every
live connection, refuses new ones while cut, and passes again once restored."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.chaos.tcp_proxy import TcpProxy


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def roundtrip(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def test_passes_cuts_refuses_and_restores(echo: int) -> None:
    with TcpProxy("127.0.0.1", echo) as proxy:
        live = connect(proxy.port)
        assert roundtrip(live, b"hello") == b"hello"
        assert proxy.live == 1
        proxy.cut()
        with pytest.raises(OSError):  # reset under it, or read as closed
            if roundtrip(live, b"more") == b"":
                raise ConnectionResetError
        late = connect(proxy.port)  # accepted, then aborted at once
        with pytest.raises(OSError):
            if roundtrip(late, b"x") == b"":
                raise ConnectionResetError
        assert proxy.refused == 1
        proxy.restore()
        again = connect(proxy.port)
        assert roundtrip(again, b"back") == b"back"
        for sock in (live, late, again):
            sock.close()
