"""The hostile-client probe, replayed over HTTP against the real gateway (uvicorn with the
gateway's own config, tests/gateway_server.py): bodies that never end, bodies JSON chokes on,
headers of a megabyte. Raw sockets where a client library would not send what an attacker does.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from outrigger.config.llm import MAX_REQUEST_BYTES
from outrigger.storage.tenants import Tenant
from tests.gateway_server import GatewayServer, llm_settings
from tests.upstream import UpstreamThread

pytestmark = pytest.mark.timeout(60)

BODY_ROUTES = ["/v1/chat/completions", "/v1/embeddings", "/v1/models/no-such-model/predict"]
MAX_HEADER_BYTES = 65_536  # gateway.max_header_bytes's default
CHUNK = 65_536


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamThread]:
    up = UpstreamThread().start()
    yield up
    up.stop()


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamThread
) -> Iterator[GatewayServer]:
    settings = llm_settings(
        tmp_path_factory.mktemp("gw"), {"up": upstream.url}, embeddings={"kind": "hashing"}
    )
    server = GatewayServer(settings).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def key(gateway: GatewayServer) -> str:
    gateway.proxy.tenants.create_tenant(Tenant("acme", "Acme", "enterprise", None))
    secret, _ = gateway.proxy.tenants.create_key("acme", "probe")
    return secret


def connect(gw: GatewayServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gw.port))
    sock.settimeout(10)  # an answer that waits for the end of the body never comes: it fails
    return sock


def chunked_head(path: str, key: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n{auth}"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()


def chunks(total: int) -> Iterator[bytes]:
    """``total`` body bytes as HTTP chunks, without the terminating zero-length chunk."""
    while total > 0:
        n = min(CHUNK, total)
        yield b"%x\r\n" % n + b"a" * n + b"\r\n"
        total -= n


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset after the answer ends it too)."""
    data = b""
    try:
        while piece := sock.recv(65_536):
            data += piece
    except ConnectionResetError:
        pass
    return data


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def body_of(response: bytes) -> bytes:
    return response.partition(b"\r\n\r\n")[2]


def healthy(gw: GatewayServer) -> float:
    started = time.perf_counter()
    assert httpx.get(f"{gw.url}/healthz", timeout=5).status_code == 200
    return time.perf_counter() - started


# 1. Request bodies are limited while they are read -----------------------------------------


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_a_chunked_body_over_the_limit_without_a_key_is_refused_413_before_it_ends(
    gateway: GatewayServer, path: str
) -> None:
    """Before: the whole body was read first (500 MB grew the process to 2 GB), then 401.
    Now the 413 arrives while the body is still open: the last chunk is never sent."""
    with connect(gateway) as sock:
        sock.sendall(chunked_head(path))
        for chunk in chunks(MAX_REQUEST_BYTES + 1):
            sock.sendall(chunk)
        response = read_all(sock)
    assert status_of(response) == 413, response[:300]
    assert response.count(b"HTTP/1.1 ") == 1  # the route's own answer to the cut body is dropped
    assert b"connection: close" in response.lower()
    assert httpx.Response(413, content=body_of(response)).json()["error"] == {
        "message": f"request body over {MAX_REQUEST_BYTES} bytes",
        "type": "invalid_request_error",
        "param": None,
        "code": "request_too_large",
    }


def test_a_chunked_body_over_the_limit_with_a_valid_key_calls_no_upstream(
    gateway: GatewayServer, upstream: UpstreamThread, key: str
) -> None:
    before = upstream.behaviour.requests
    with connect(gateway) as sock:
        sock.sendall(chunked_head("/v1/chat/completions", key))
        for chunk in chunks(MAX_REQUEST_BYTES + 1):
            sock.sendall(chunk)
        response = read_all(sock)
    assert status_of(response) == 413, response[:300]
    assert upstream.behaviour.requests == before


def test_an_endless_chunked_body_is_cut_off_near_the_limit(gateway: GatewayServer) -> None:
    """A client that keeps sending: the gateway answers, closes the connection, and the
    client's sends fail long before it has pushed 64 MB (kernel buffers hold a few MB)."""
    cap = 64 * 1024 * 1024
    sent = 0
    with connect(gateway) as sock:
        sock.sendall(chunked_head("/v1/chat/completions"))

        def pump() -> None:
            nonlocal sent
            try:
                for chunk in chunks(cap):
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the gateway closed the connection

        sender = threading.Thread(target=pump)
        sender.start()
        response = read_all(sock)
        sender.join(30)
    assert sent < cap // 2, f"{sent} bytes went in before the gateway stopped reading"
    assert response == b"" or status_of(response) == 413
    assert healthy(gateway) < 1.0


def test_a_content_length_over_the_limit_is_refused_before_the_body(
    gateway: GatewayServer,
) -> None:
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
        f"Content-Type: application/json\r\nContent-Length: {MAX_REQUEST_BYTES + 1}\r\n\r\n"
    )
    with connect(gateway) as sock:
        sock.sendall(head.encode())  # and not one byte of the body
        response = read_all(sock)
    assert status_of(response) == 413, response[:300]


def test_a_body_at_the_limit_is_read_and_judged(gateway: GatewayServer) -> None:
    with connect(gateway) as sock:
        sock.sendall(chunked_head("/v1/chat/completions"))
        for chunk in chunks(MAX_REQUEST_BYTES):
            sock.sendall(chunk)
        sock.sendall(b"0\r\n\r\n")
        response = read_all(sock)
    assert status_of(response) == 400  # not JSON: judged, not refused for its size


# 2. Bodies the JSON decoder chokes on are 400s, before any key is checked -------------------

MALFORMED = {
    "invalid UTF-8": (
        b'{"model":"chat-default","messages":[{"role":"user","content":"\xff\xfe"}]}',
        "invalid unicode code point",
    ),
    "a 5,000-digit integer": (
        b'{"model":"chat-default","messages":[{"role":"user","content":"x"}],"seed":'
        + b"1" * 5000
        + b"}",
        "number out of range",
    ),
    "nesting 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "recursion limit exceeded"),
    "nesting 100,000 deep in a field": (
        b'{"model":"chat-default","messages":[{"role":"user","content":"x"}],"x":'
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
        "recursion limit exceeded",
    ),
    "a lone surrogate": (
        b'{"model":"chat-default","messages":[{"role":"user","content":"\\ud800"}]}',
        "hex escape",
    ),
}


@pytest.mark.parametrize("path", BODY_ROUTES[:2])
@pytest.mark.parametrize("name", list(MALFORMED))
@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "key"])
def test_a_body_json_cannot_take_is_a_400_naming_the_problem(
    gateway: GatewayServer, upstream: UpstreamThread, key: str, path: str, name: str, with_key: bool
) -> None:
    raw, reason = MALFORMED[name]
    headers = {"Content-Type": "application/json"}
    if with_key:
        headers["Authorization"] = f"Bearer {key}"
    before = upstream.behaviour.requests
    response = httpx.post(f"{gateway.url}{path}", content=raw, headers=headers, timeout=10)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("request body: Invalid JSON") and reason in error["message"]
    assert upstream.behaviour.requests == before


@pytest.mark.parametrize("name", list(MALFORMED)[:4])
def test_predict_bodies_json_cannot_take_are_400s_too(gateway: GatewayServer, name: str) -> None:
    """The predict route reads its body through FastAPI; the gateway's handlers name the
    cause FastAPI's generic 'There was an error parsing the body' hides."""
    raw, _ = MALFORMED[name]
    response = httpx.post(
        f"{gateway.url}{BODY_ROUTES[2]}",
        content=raw,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("There was an error parsing the body: the ")


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("path", BODY_ROUTES[:2])
def test_a_client_hanging_up_mid_body_is_no_server_error(gateway: GatewayServer, path: str) -> None:
    """The route reading the body gets ClientDisconnect: a 4xx nobody reads, not a 500
    logged as 'Exception in ASGI application'."""
    errors = _Errors()
    logger = logging.getLogger("uvicorn.error")  # where uvicorn reports unhandled exceptions
    logger.addHandler(errors)
    try:
        with connect(gateway) as sock:
            head = f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            sock.sendall(f"{head}Content-Length: 1000\r\n\r\n".encode() + b'{"model":')
            time.sleep(0.2)  # the route is waiting for the rest
        deadline = time.monotonic() + 1
        while not errors.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        logger.removeHandler(errors)
    assert errors.messages == []
    assert healthy(gateway) < 1.0


# 3. Request line and headers are limited ----------------------------------------------------


def raw_get(gw: GatewayServer, header_bytes: int, path: str = "/healthz") -> bytes:
    """A GET with one ``X-Big`` header of ``header_bytes`` bytes, sent while the answer is
    read (the gateway may close before it has all of it)."""
    request = f"GET {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nX-Big: ".encode()
    request += b"a" * header_bytes + b"\r\n\r\n"
    with connect(gw) as sock:

        def pump() -> None:
            try:
                for start in range(0, len(request), CHUNK):
                    sock.sendall(request[start : start + CHUNK])
            except OSError:
                pass  # refused and closed

        sender = threading.Thread(target=pump)
        sender.start()
        response = read_all(sock)
        sender.join(30)
    return response


def test_a_megabyte_header_is_refused_431_and_the_gateway_stays_responsive(
    gateway: GatewayServer,
) -> None:
    """Before: 64 MB of header were parsed (5.3 s of CPU, /healthz blocked 3.8 s)."""
    response = raw_get(gateway, 1024 * 1024)
    assert status_of(response) == 431, response[:300]
    assert httpx.Response(431, content=body_of(response)).json()["error"]["code"] == (
        "request_header_fields_too_large"
    )
    assert healthy(gateway) < 1.0


def test_a_head_over_the_limit_in_one_piece_is_refused_too(gateway: GatewayServer) -> None:
    """Just over the limit: often read in one piece, so measured once parsed."""
    response = raw_get(gateway, MAX_HEADER_BYTES + 100)
    assert status_of(response) == 431, response[:300]


def test_a_long_url_counts_toward_the_limit(gateway: GatewayServer) -> None:
    response = raw_get(gateway, 10, path="/healthz?" + "q" * (MAX_HEADER_BYTES + 100))
    assert status_of(response) == 431, response[:300]


def test_headers_under_the_limit_are_served(gateway: GatewayServer) -> None:
    response = raw_get(gateway, MAX_HEADER_BYTES - 1024)
    assert status_of(response) == 200, response[:300]
