"""The OpenAI-compatible gateway, driven by the real ``openai`` client, in front of an
OpenAI-compatible upstream started on 127.0.0.1 (tests/upstream.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from outrigger.storage.tenants import Tenant
from tests.gateway_server import GatewayServer, llm_settings
from tests.upstream import UpstreamThread


@pytest.fixture
def upstreams() -> Iterator[dict[str, UpstreamThread]]:
    ups = {"primary": UpstreamThread().start(), "secondary": UpstreamThread().start()}
    yield ups
    for up in ups.values():
        up.stop()


def start_gateway(
    data_dir: Path, upstreams: dict[str, UpstreamThread], **extra: Any
) -> GatewayServer:
    settings = llm_settings(data_dir, {n: u.url for n, u in upstreams.items()}, **extra)
    return GatewayServer(settings).start()


@pytest.fixture
def gateway(data_dir: Path, upstreams: dict[str, UpstreamThread]) -> Iterator[GatewayServer]:
    server = start_gateway(data_dir, upstreams)
    yield server
    server.stop()


def new_key(gw: GatewayServer, tenant: str = "acme", tier: str = "enterprise", **kw: Any) -> str:
    tenants = gw.proxy.tenants
    if tenants.get_tenant(tenant) is None:
        tenants.create_tenant(Tenant(tenant, tenant.title(), tier, kw.pop("region", None)))
    key, _ = tenants.create_key(tenant, "test", **kw)
    return key


def client(gw: GatewayServer, key: str, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, **kw)


def ask(gw: GatewayServer, key: str, text: str = "hello there", **kw: Any) -> Any:
    return client(gw, key).chat.completions.create(
        model="chat-default", messages=[{"role": "user", "content": text}], **kw
    )


def test_plain_chat_through_the_openai_client(gateway: GatewayServer) -> None:
    key = new_key(gateway)
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model="chat-default", messages=[{"role": "user", "content": "what is my balance"}]
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "echo: what is my balance"
    assert answer.usage is not None and answer.usage.completion_tokens == 5
    assert raw.headers["x-outrigger-deployment"] == "primary"
    assert raw.headers["x-outrigger-cache"] == "bypass"


def test_streaming_ends_with_a_usage_chunk(gateway: GatewayServer) -> None:
    key = new_key(gateway)
    stream = client(gateway, key).chat.completions.create(
        model="chat-default",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three four"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_models_lists_the_aliases(gateway: GatewayServer) -> None:
    key = new_key(gateway)
    embedder = gateway.proxy.embedder  # the local MiniLM where the extra is installed
    served = ["chat-default"] + ([embedder.model_id] if embedder is not None else [])
    assert [m.id for m in client(gateway, key).models.list()] == served


@pytest.mark.parametrize("authorization", [None, "Bearer sk-bogus", "Basic eDp5"])
def test_models_are_listed_only_for_a_valid_key(
    gateway: GatewayServer, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.get(f"{gateway.url}/v1/models", headers=headers, timeout=30)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["type"] == "authentication_error"
    assert "chat-default" not in response.text


@pytest.mark.parametrize("kind", ["missing", "unknown", "revoked", "expired"])
def test_bad_keys_are_refused_with_401(gateway: GatewayServer, kind: str) -> None:
    key = new_key(gateway)
    if kind == "revoked":
        key_id = key.split("-")[1]
        assert gateway.proxy.tenants.revoke_key(key_id)
    elif kind == "expired":
        key = new_key(gateway, expires_at=time.time() - 1)
    elif kind == "unknown":
        key = key[:-4] + ("BBBB" if key.endswith("AAAA") else "AAAA")  # never the key itself
    if kind == "missing":
        response = httpx.post(f"{gateway.url}/v1/chat/completions", json={})
        assert response.status_code in (400, 401)  # the body is checked first or the key
        response = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "chat-default", "messages": [{"role": "user", "content": "x"}]},
        )
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
        return
    with pytest.raises(openai.AuthenticationError):
        ask(gateway, key)


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "x"}]},
        {"model": "chat-default", "messages": []},
        {"model": "chat-default", "messages": [{"role": "wizard", "content": "x"}]},
        {"model": "chat-default", "messages": [{"role": "user", "content": "x"}], "n": 2},
        {"model": "chat-default", "messages": [{"role": "user", "content": "x"}], "temperature": 9},
        {"model": "no-such-alias", "messages": [{"role": "user", "content": "x"}]},
    ],
)
def test_malformed_requests_get_4xx_with_a_message(gateway: GatewayServer, body: Any) -> None:
    key = new_key(gateway)
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["message"]


def test_invalid_json_is_a_400(gateway: GatewayServer) -> None:
    key = new_key(gateway)
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400


def test_fallback_goes_to_the_next_deployment_in_order(
    gateway: GatewayServer, upstreams: dict[str, UpstreamThread]
) -> None:
    key = new_key(gateway)
    upstreams["primary"].set("500", times=2)
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model="chat-default", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-outrigger-deployment"] == "secondary"
    assert upstreams["primary"].behaviour.requests == 2  # two attempts, then fallback
    assert upstreams["secondary"].behaviour.requests == 1


def test_a_429_moves_the_call_to_the_next_deployment_and_cools_the_first_down(
    gateway: GatewayServer, upstreams: dict[str, UpstreamThread]
) -> None:
    key = new_key(gateway)
    upstreams["primary"].set("429", times=1)
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model="chat-default", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-outrigger-deployment"] == "secondary"
    assert upstreams["primary"].behaviour.requests == 1  # not retried while it is busy
    assert gateway.proxy.dispatcher.balancer.cooling("primary") > 0
    assert gateway.proxy.dispatcher.breakers["primary"].state == "closed"


def test_dropped_connections_fall_back(
    gateway: GatewayServer, upstreams: dict[str, UpstreamThread]
) -> None:
    key = new_key(gateway)
    upstreams["primary"].set("drop", times=2)
    answer = ask(gateway, key, "still there?")
    assert answer.choices[0].message.content == "echo: still there?"
    assert upstreams["secondary"].behaviour.requests == 1


def test_an_upstream_400_is_passed_back_not_retried(
    gateway: GatewayServer, upstreams: dict[str, UpstreamThread]
) -> None:
    key = new_key(gateway)
    upstreams["primary"].set("400", times=1)
    with pytest.raises(openai.BadRequestError):
        ask(gateway, key)
    assert upstreams["primary"].behaviour.requests == 1
    assert upstreams["secondary"].behaviour.requests == 0


def test_a_stream_broken_mid_way_ends_with_an_error_event(
    gateway: GatewayServer, upstreams: dict[str, UpstreamThread]
) -> None:
    key = new_key(gateway)
    upstreams["primary"].set("break_stream", times=1)
    stream = client(gateway, key).chat.completions.create(
        model="chat-default",
        messages=[{"role": "user", "content": "a b c d e f g h"}],
        stream=True,
    )
    received = []
    with pytest.raises(openai.APIError, match="broke off"):
        for chunk in stream:
            received.append(chunk)
    assert received, "some chunks arrived before the break"


def test_every_circuit_open_answers_the_fallback_fast_plain_and_streamed(
    data_dir: Path, upstreams: dict[str, UpstreamThread]
) -> None:
    server = start_gateway(
        data_dir, upstreams, llm={"circuit": {"failure_threshold": 1, "open_s": 60}}
    )
    try:
        key = new_key(server)
        for up in upstreams.values():
            up.set("500")
        first = ask(server, key)  # opens both circuits
        assert "temporarily unavailable" in first.choices[0].message.content
        calls = sum(u.behaviour.requests for u in upstreams.values())
        raw = client(server, key).chat.completions.with_raw_response.create(
            model="chat-default", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-outrigger-fallback"] == "true"
        stream = client(server, key).chat.completions.create(
            model="chat-default", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert "temporarily unavailable" in text
        assert sum(u.behaviour.requests for u in upstreams.values()) == calls  # none asked
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503 and "circuit" in ready.text
    finally:
        server.stop()


def test_rate_limit_and_monthly_quota_answer_429_with_retry_after(
    data_dir: Path, upstreams: dict[str, UpstreamThread]
) -> None:
    tiers = {"tiny": {"rpm": 3}, "trial": {"monthly_calls": 2}}
    server = start_gateway(data_dir, upstreams, tenancy={"tiers": tiers})
    try:
        fast = new_key(server, "fast", tier="tiny")
        for _ in range(3):
            ask(server, fast)
        with pytest.raises(openai.RateLimitError) as limited:
            ask(server, fast)
        assert int(limited.value.response.headers["retry-after"]) >= 1
        trial = new_key(server, "trial", tier="trial")
        ask(server, trial)
        ask(server, trial)
        with pytest.raises(openai.RateLimitError) as quota:
            ask(server, trial)
        assert quota.value.code == "insufficient_quota"
    finally:
        server.stop()


def test_a_tenant_pinned_to_a_region_is_never_served_elsewhere(
    data_dir: Path, upstreams: dict[str, UpstreamThread]
) -> None:
    settings_extra = {
        "llm": {
            "deployments": {
                "primary": {"provider": "primary", "model": "m", "region": "in"},
                "secondary": {"provider": "secondary", "model": "m", "region": "us"},
            },
        }
    }
    server = start_gateway(data_dir, upstreams, **settings_extra)
    try:
        key = new_key(server, "lender", region="in")
        upstreams["primary"].set("500")
        answer = ask(server, key)
        assert "temporarily unavailable" in answer.choices[0].message.content
        assert upstreams["secondary"].behaviour.requests == 0  # us is never tried
    finally:
        server.stop()


def test_usage_shows_a_tenant_only_its_own_calls_and_sums_the_ledger(
    gateway: GatewayServer,
) -> None:
    a, b = new_key(gateway, "tenant-a"), new_key(gateway, "tenant-b")
    answers = [ask(gateway, a, f"question number {i}") for i in range(3)]
    ask(gateway, b, "other tenant", extra_headers={"X-Outrigger-Feature": "claims"})
    usage_a = httpx.get(f"{gateway.url}/v1/usage", headers={"Authorization": f"Bearer {a}"}).json()
    assert usage_a["tenant"] == "tenant-a"
    assert usage_a["total"]["calls"] == 3
    assert [line["feature"] for line in usage_a["data"]] == ["chat"]
    assert usage_a["total"]["tokens_in"] == sum(x.usage.prompt_tokens for x in answers)
    assert usage_a["total"]["tokens_out"] == sum(x.usage.completion_tokens for x in answers)
    expected = sum(x.usage.prompt_tokens * 1.0 + x.usage.completion_tokens * 2.0 for x in answers)
    assert usage_a["total"]["cost_usd"] == pytest.approx(expected / 1e6)
    usage_b = httpx.get(f"{gateway.url}/v1/usage", headers={"Authorization": f"Bearer {b}"}).json()
    assert usage_b["total"]["calls"] == 1 and usage_b["data"][0]["feature"] == "claims"


def test_azure_requests_use_the_deployment_path_version_and_api_key_header(
    data_dir: Path, upstreams: dict[str, UpstreamThread], tmp_path: Path
) -> None:
    secret = tmp_path / "azure-key"
    secret.write_text("azure-secret-123\n")
    llm = {
        "providers": {
            "primary": {
                "kind": "azure",
                "base_url": upstreams["primary"].base,
                "api_key_file": str(secret),
                "api_version": "2024-10-21",
            },
            "secondary": {"kind": "openai", "base_url": upstreams["secondary"].url},
        },
    }
    server = start_gateway(data_dir, upstreams, llm=llm)
    try:
        answer = ask(server, new_key(server), "azure?")
        assert answer.choices[0].message.content == "echo: azure?"
        last = upstreams["primary"].behaviour.last
        assert (
            last["path"]
            == "/openai/deployments/primary-model/chat/completions?api-version=2024-10-21"
        )
        assert last["headers"]["api-key"] == "azure-secret-123"
        assert "Authorization" not in last["headers"]
    finally:
        server.stop()
