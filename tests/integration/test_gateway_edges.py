"""Edges of the gateway's HTTP surface, on real sockets: slow clients are cut off (a head
that never completes, a connection that sends nothing, a body that trickles), failed
sign-ins are throttled per key prefix and per client address, and the gateway serves TLS
when certificate files are configured (and refuses to start without them when required)."""

from __future__ import annotations

import json
import select
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from outrigger.config.settings import Settings
from tests.gateway_server import GatewayServer, llm_settings
from tests.helpers import der, install_pair, self_signed
from tests.integration.test_gateway_llm import new_key
from tests.upstream import UpstreamThread

CHAT = {"model": "chat-default", "messages": [{"role": "user", "content": "hi"}]}


def settings(data_dir: Path, upstream: UpstreamThread, **gateway: Any) -> Settings:
    base = llm_settings(data_dir, {"up": upstream.url})
    return base.model_copy(update={"gateway": base.gateway.model_copy(update=gateway)}, deep=True)


@pytest.fixture
def edgy(data_dir: Path, upstream: UpstreamThread) -> Iterator[GatewayServer]:
    cfg = settings(
        data_dir,
        upstream,
        header_timeout_s=0.5,
        body_timeout_s=0.5,
        auth_failures_per_key=3,
        auth_failures_per_address=8,
    )
    server = GatewayServer(cfg).start()
    yield server
    server.stop()


def raw(gw: GatewayServer, *parts: bytes, pause_s: float = 0.0, wait_s: float = 5.0) -> bytes:
    """Send ``parts`` on one connection (``pause_s`` between them), then read until the
    server closes it (or ``wait_s``)."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=wait_s) as sock:
        for part in parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server has answered and closed already
            time.sleep(pause_s)
        received = b""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk
    raise AssertionError(f"the connection stayed open; got {received[:200]!r}")


def status_and_body(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body) if body else {}


def test_a_head_that_never_completes_gets_408_and_is_closed(edgy: GatewayServer) -> None:
    answer = raw(edgy, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    status, body = status_and_body(answer)  # (raw fails if the connection stays open)
    assert status == 408 and body["error"]["code"] == "request_timeout"


def test_a_connection_that_sends_nothing_is_closed(edgy: GatewayServer) -> None:
    assert raw(edgy) == b""


def test_a_head_trickled_a_byte_at_a_time_is_still_cut_off(edgy: GatewayServer) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
    sent = 0
    with socket.create_connection(("127.0.0.1", edgy.port), timeout=5) as sock:
        for byte in head:  # ~4 s of steady trickle, far past the 0.5 s deadline
            readable, _, _ = select.select([sock], [], [], 0.02)
            if readable:  # the server has answered: stop sending (no reset)
                break
            sock.sendall(bytes([byte]))
            sent += 1
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert sent < len(head)  # cut off while the client was still sending


def test_a_trickling_body_gets_408(edgy: GatewayServer) -> None:
    body = json.dumps(CHAT).encode()
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer ork-000000000000-x\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    answer = raw(edgy, head, body[:10], pause_s=1.0)
    status, payload = status_and_body(answer)
    assert status == 408 and "body not received" in payload["error"]["message"]


def test_prompt_clients_are_served_on_a_kept_alive_connection(edgy: GatewayServer) -> None:
    key = new_key(edgy)
    with httpx.Client(base_url=edgy.url, headers={"Authorization": f"Bearer {key}"}) as client:
        for _ in range(3):
            assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
            time.sleep(0.3)  # idle between requests, within the keep-alive time


def test_failed_sign_ins_are_throttled_per_key_prefix(edgy: GatewayServer) -> None:
    key = new_key(edgy)
    prefix = key.rsplit("-", 1)[0]
    codes = []
    for i in range(5):
        guess = {"Authorization": f"Bearer {prefix}-wrong{i}"}
        codes.append(httpx.post(f"{edgy.url}/v1/chat/completions", json=CHAT, headers=guess))
    assert [r.status_code for r in codes] == [401, 401, 401, 429, 429]
    refused = codes[-1]
    assert refused.json()["error"]["code"] == "too_many_auth_failures"
    assert int(refused.headers["retry-after"]) >= 1
    # Only failures are throttled: the key's owner, with the right secret, is never locked
    # out by someone else's guesses at its prefix (auth_cache_s is 0: it is looked up).
    right = {"Authorization": f"Bearer {key}"}
    assert (
        httpx.post(f"{edgy.url}/v1/chat/completions", json=CHAT, headers=right).status_code == 200
    )
    other = {"Authorization": f"Bearer {new_key(edgy, 'globex')}"}
    assert (
        httpx.post(f"{edgy.url}/v1/chat/completions", json=CHAT, headers=other).status_code == 200
    )


def test_failed_sign_ins_are_throttled_per_client_address(edgy: GatewayServer) -> None:
    codes = []
    for i in range(10):  # random keys: a different prefix each time
        headers = {"Authorization": f"Bearer ork-{i:012d}-guess"}
        response = httpx.get(f"{edgy.url}/v1/usage", headers=headers)
        codes.append(response.status_code)
    assert codes == [401] * 8 + [429] * 2
    missing = httpx.get(f"{edgy.url}/v1/usage")  # no key at all counts the same
    assert missing.status_code == 429
    valid = {"Authorization": f"Bearer {new_key(edgy)}"}  # a valid key from that address
    assert httpx.get(f"{edgy.url}/v1/usage", headers=valid).status_code == 200


def test_a_slow_client_cannot_hold_a_connection_after_a_response(edgy: GatewayServer) -> None:
    # A stray line after a kept-alive response, then nothing: not a head, still cut off.
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = raw(edgy, request, b"\r\n", pause_s=0.3, wait_s=4)  # keep-alive is 5 s
    assert answer.startswith(b"HTTP/1.1 200 ")
    # A body the route never reads (refused before it reads: no key), trickled after the
    # answer: the connection is closed too.
    head = b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    answer = raw(edgy, head, *[b"x"] * 20, pause_s=0.2, wait_s=4)
    assert answer.startswith(b"HTTP/1.1 ")


def test_a_key_prefix_of_any_length_is_one_bounded_counter() -> None:
    from outrigger.proxy.auth import _prefix

    assert _prefix("ork-0123456789ab-secret") == "ork-0123456789ab"
    assert _prefix("ork-" + "a" * 60_000 + "-x") == "malformed"
    assert _prefix("sk-live-whatever") == "malformed"


def test_the_gateway_serves_tls_with_the_configured_certificate(
    data_dir: Path, upstream: UpstreamThread, tmp_path: Path
) -> None:
    certfile, keyfile = self_signed(tmp_path)
    cfg = settings(data_dir, upstream, tls_cert_file=certfile, tls_key_file=keyfile)
    gw = GatewayServer(cfg).start()
    try:
        key = new_key(gw)
        trusted = ssl.create_default_context(cafile=str(certfile))
        with httpx.Client(base_url=f"https://localhost:{gw.port}", verify=trusted) as client:
            answer = client.post(
                "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
            )
            assert answer.status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP is not spoken on that port
            httpx.get(f"http://127.0.0.1:{gw.port}/healthz", timeout=3)
    finally:
        gw.stop()


def test_an_encrypted_key_is_served_with_its_mounted_passphrase(
    data_dir: Path, upstream: UpstreamThread, tmp_path: Path
) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("first-secret\n")
    live = self_signed(tmp_path / "live", password="first-secret")
    cfg = settings(data_dir, upstream, tls_cert_file=live[0], tls_key_file=live[1],
                   tls_key_password_file=secret, tls_reload_s=0.1)  # fmt: skip
    gw = GatewayServer(cfg).start()
    try:
        assert served_certificate(gw.port) == der(live[0])
        secret.write_text("second-secret\n")  # the Secret rotates key and passphrase
        install_pair(live, self_signed(tmp_path / "next", password="second-secret"))
        deadline = time.monotonic() + 10
        while served_certificate(gw.port) != der(live[0]):
            assert time.monotonic() < deadline, "the rotated encrypted pair was never served"
            time.sleep(0.05)
    finally:
        gw.stop()


def served_certificate(port: int) -> bytes:
    """The DER certificate a new TLS connection to ``port`` is given (not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_a_rotated_certificate_is_served_to_new_connections_without_a_restart(
    data_dir: Path, upstream: UpstreamThread, tmp_path: Path
) -> None:
    live = self_signed(tmp_path)
    first = der(live[0])
    cfg = settings(data_dir, upstream, tls_cert_file=live[0], tls_key_file=live[1],
                   tls_reload_s=0.1)  # fmt: skip
    gw = GatewayServer(cfg).start()
    try:
        assert served_certificate(gw.port) == first
        key = new_key(gw)
        (tmp_path / "next").mkdir()
        rotated = self_signed(tmp_path / "next")
        second = der(rotated[0])
        install_pair(live, rotated)
        deadline = time.monotonic() + 10
        while served_certificate(gw.port) != second:
            assert time.monotonic() < deadline, "the rotated certificate was never served"
            time.sleep(0.05)
        trusted = ssl.create_default_context(cafile=str(live[0]))
        with httpx.Client(base_url=f"https://localhost:{gw.port}", verify=trusted) as client:
            answer = client.post(
                "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
            )
            assert answer.status_code == 200

        # A certificate whose key is not in the key file: refused, the current one kept.
        (tmp_path / "odd").mkdir()
        other_key = self_signed(tmp_path / "odd")[1]
        (tmp_path / "bad").mkdir()
        mismatched = self_signed(tmp_path / "bad")[0], other_key
        install_pair(live, mismatched)
        time.sleep(0.5)  # five checks
        assert served_certificate(gw.port) == second
        assert gw.server.certificates is not None and gw.server.certificates.reloads == 1

        # Its key arrives: the pair is whole again and is served.
        (tmp_path / "fixed").mkdir()
        fixed = self_signed(tmp_path / "fixed", key_from=live[1])  # the key now in place
        install_pair(live, fixed)
        deadline = time.monotonic() + 10
        while served_certificate(gw.port) == second:
            assert time.monotonic() < deadline, "the repaired pair was never served"
            time.sleep(0.05)
        assert served_certificate(gw.port) == der(live[0])
    finally:
        gw.stop()


def test_required_tls_without_certificates_is_a_configuration_error(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="require_tls"):
        Settings.model_validate({"data_dir": data_dir, "gateway": {"require_tls": True}})
    with pytest.raises(ValueError, match="go together"):
        Settings.model_validate({"data_dir": data_dir, "gateway": {"tls_cert_file": "/x.pem"}})


@pytest.mark.redis
async def test_replicas_sharing_redis_share_the_failed_sign_in_count(
    data_dir: Path, redis_url: str
) -> None:
    from outrigger.proxy.auth import Authenticator, TooManyFailures
    from outrigger.proxy.context import Unauthorized
    from outrigger.proxy.limits import RedisLimiter
    from outrigger.storage.factory import open_database
    from outrigger.storage.tenants import TenantStore

    db = open_database(f"sqlite:///{data_dir / 'auth.sqlite3'}")
    limiters = [RedisLimiter(redis_url), RedisLimiter(redis_url)]
    replicas = [
        Authenticator(TenantStore(db), db, 0, limiter=lim, per_address=100, per_key=4)
        for lim in limiters
    ]
    prefix = f"ork-{uuid.uuid4().hex[:12]}"  # fresh counters in the shared Redis
    try:
        outcomes = []
        for i in range(6):  # alternating replicas, one key prefix
            try:
                await replicas[i % 2].tenant(f"Bearer {prefix}-guess{i}", "10.1.2.3")
            except (Unauthorized, TooManyFailures) as exc:
                outcomes.append(type(exc).__name__)
        assert outcomes == ["Unauthorized"] * 4 + ["TooManyFailures"] * 2
    finally:
        for limiter in limiters:
            await limiter.close()
        db.dispose()
