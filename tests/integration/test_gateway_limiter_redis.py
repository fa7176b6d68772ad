"""The gateway's shared limiter on the machine's Redis: never bypassed, never a 500.

Redis unreachable: every limited call is a 503 with ``Retry-After`` before any upstream call,
and ``/readyz`` names the limiter. A connection Redis killed between calls costs nothing:
the call retries once on a fresh connection, and the counters keep counting.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis

from tests.gateway_server import GatewayServer
from tests.integration.test_gateway_llm import ask, client, new_key, start_gateway
from tests.upstream import UpstreamThread

pytestmark = pytest.mark.redis
TIERS = {"metered": {"rpm": 3}, "enterprise": {}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nowhere_gateway(data_dir: Path, upstream: UpstreamThread) -> Iterator[GatewayServer]:
    """A gateway whose limiter points at a port where nothing listens."""
    tenancy = {"tiers": TIERS, "redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    server = start_gateway(data_dir, {"primary": upstream}, tenancy=tenancy)
    yield server
    server.stop()


def test_an_unreachable_limiter_is_a_503_with_retry_after_and_unready(
    nowhere_gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    gw = nowhere_gateway
    key = new_key(gw, f"lim-{uuid.uuid4().hex[:8]}", tier="metered")
    for stream in (False, True):
        with pytest.raises(openai.InternalServerError) as refused:
            ask(gw, key, stream=stream)
        assert refused.value.status_code == 503
        assert refused.value.code == "limiter_unavailable"
        assert int(refused.value.response.headers["retry-after"]) >= 1
    assert upstream.behaviour.requests == 0  # never let through unchecked
    ready = httpx.get(f"{gw.url}/readyz")
    assert ready.status_code == 503
    assert any(p.startswith("limiter:") for p in ready.json()["problems"]), ready.text


def kill_connections(url: str, name: str) -> int:
    """Close, server side, every connection of the clients named ``name``."""
    admin = redis.Redis.from_url(url)
    try:
        ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
        return sum(int(admin.client_kill_filter(_id=i)) for i in ids)
    finally:
        admin.close()


def test_a_connection_killed_between_calls_is_retried_not_a_500(
    data_dir: Path, upstream: UpstreamThread, redis_url: str
) -> None:
    name = f"outrigger-test-{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in redis_url else "?"
    tenancy = {"tiers": TIERS, "redis_url": f"{redis_url}{sep}client_name={name}"}
    server = start_gateway(data_dir, {"primary": upstream}, tenancy=tenancy)
    try:
        key = new_key(server, f"lim-{uuid.uuid4().hex[:8]}", tier="metered")
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        ask(server, key)
        assert kill_connections(redis_url, name) >= 1
        assert ask(server, key).choices[0].message.content == "echo: hello there"
        assert kill_connections(redis_url, name) >= 1
        stream = client(server, key).chat.completions.create(
            model="chat-default", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "echo: hi"
        with pytest.raises(openai.RateLimitError):  # the counters counted all three
            ask(server, key)
        assert upstream.behaviour.requests == 3
    finally:
        server.stop()
