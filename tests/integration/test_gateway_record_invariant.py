"""No answer leaves the gateway without its ledger row and audit record.

Text that cannot be encoded as UTF-8 (a lone surrogate, which JSON's ``\\ud800`` escape can
carry) is refused with a 400 before any upstream call, on every route that takes text. And
whatever fails while a finished call is being recorded (a digest, a finisher such as the TPM
counter), the caller still gets its answer once, and the call is still on the record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa

from outrigger.llm.types import Usage
from outrigger.proxy import recorder
from outrigger.storage.schema import audit_log, llm_calls
from tests.gateway_server import GatewayServer
from tests.integration.test_gateway_llm import new_key, start_gateway
from tests.upstream import UpstreamThread

LONE = "tell me about \\ud800 please"  # the JSON escape of a lone (high) surrogate


@pytest.fixture
def gateway(data_dir: Path, upstream: UpstreamThread) -> Iterator[GatewayServer]:
    tiers = {"enterprise": {}, "metered": {"tpm": 1_000_000, "rpm": 1000}}
    server = start_gateway(data_dir, {"primary": upstream}, tenancy={"tiers": tiers})
    yield server
    server.stop()


def post_raw(gw: GatewayServer, key: str, path: str, body: str) -> httpx.Response:
    """``body`` as written (JSON escapes kept), the way a hostile client sends it."""
    return httpx.post(
        f"{gw.url}{path}",
        content=body.encode("ascii"),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )


def chat_body(content: str, **extra: Any) -> str:
    fields = [f'"{k}": {json.dumps(v)}' for k, v in extra.items()]
    message = f'{{"role": "user", "content": "{content}"}}'
    return "{" + ", ".join(['"model": "chat-default"', f'"messages": [{message}]', *fields]) + "}"


def rows(gw: GatewayServer) -> tuple[list[Any], list[Any]]:
    gw.proxy.db.engine.dispose()  # the writers run in the gateway's thread; read afresh
    with gw.proxy.db.engine.connect() as conn:
        ledger = conn.execute(sa.select(llm_calls.c.id, llm_calls.c.status)).all()
        audit = conn.execute(sa.select(audit_log.c.call_id, audit_log.c.prompt_hash)).all()
    return list(ledger), list(audit)


def flushed(gw: GatewayServer, key: str) -> None:
    """``/v1/usage`` flushes the ledger and audit writers before it answers."""
    assert httpx.get(f"{gw.url}/v1/usage", headers={"Authorization": f"Bearer {key}"}).is_success


@pytest.mark.parametrize(
    "body",
    [
        chat_body(LONE),
        chat_body(LONE, stream=True),
        '{"model": "chat-default", "messages": [{"role": "user", "content": "hi"}], '
        '"user": "u-\\udfff"}',
        '{"model": "chat-default", "messages": [{"role": "user", "content": "hi", '
        '"name": "carol\\ud800"}]}',
        '{"model": "chat-default", "messages": [{"role": "user", "content": '
        '[{"type": "text", "text": "a \\udc00 b"}]}]}',
        '{"model": "chat-default", "messages": [{"role": "user", "content": "hi"}], '
        '"tools": [{"type": "function", "function": {"name": "f\\ud83d"}}]}',
    ],
    ids=["content", "streamed", "user", "name", "content-part", "tool"],
)
def test_unencodable_text_is_a_400_before_any_upstream_call(
    gateway: GatewayServer, upstream: UpstreamThread, body: str
) -> None:
    key = new_key(gateway)
    response = post_raw(gateway, key, "/v1/chat/completions", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert upstream.behaviour.requests == 0
    flushed(gateway, key)
    assert rows(gateway) == ([], [])


def test_a_valid_surrogate_pair_is_ordinary_text(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    key = new_key(gateway)
    response = post_raw(gateway, key, "/v1/chat/completions", chat_body("ok \\ud83d\\ude00"))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: ok \N{GRINNING FACE}"


def test_unencodable_text_with_the_cache_on_and_in_embeddings_is_a_400(
    data_dir: Path, upstream: UpstreamThread
) -> None:
    pytest.importorskip("tokenizers", reason="extra 'embeddings' (local embedder) not installed")
    server = start_gateway(data_dir, {"primary": upstream}, cache={"enabled": True})
    try:
        key = new_key(server)
        for body in (chat_body(LONE), chat_body(LONE, stream=True)):
            response = post_raw(server, key, "/v1/chat/completions", body)
            assert response.status_code == 400, response.text
        embedder = server.proxy.embedder
        assert embedder is not None
        for text in (f'"{LONE}"', f'["fine", "{LONE}"]'):
            body = f'{{"model": "{embedder.model_id}", "input": {text}}}'
            response = post_raw(server, key, "/v1/embeddings", body)
            assert response.status_code == 400, response.text
        assert upstream.behaviour.requests == 0
        flushed(server, key)
        assert rows(server) == ([], [])  # refused before admission: nothing to bill
    finally:
        server.stop()


def _broken_digest(ctx: Any) -> str:
    raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("failure", ["digest", "finisher"])
def test_a_failure_while_recording_loses_neither_the_answer_nor_the_record(
    gateway: GatewayServer,
    upstream: UpstreamThread,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
    stream: bool,
) -> None:
    key = new_key(gateway, "metered-co", tier="metered")  # TPM: a finisher counts tokens
    if failure == "digest":
        monkeypatch.setattr(recorder, "prompt_hash", _broken_digest)
    else:

        async def limiter_down(*_: Any) -> None:
            raise ConnectionError("the limiter's Redis went away after admission")

        monkeypatch.setattr(gateway.proxy.limits, "_count_tokens", limiter_down)
    # The real client, with its default retries: a 500 would make it pay three times.
    llm = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=2)
    messages = [{"role": "user", "content": "count these words"}]
    if stream:
        chunks = list(llm.chat.completions.create(model="chat-default", messages=messages,
                                                  stream=True))  # fmt: skip
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = llm.chat.completions.create(model="chat-default", messages=messages)
        text = text.choices[0].message.content
    assert text == "echo: count these words"
    assert upstream.behaviour.requests == 1
    flushed(gateway, key)
    ledger, audit = rows(gateway)
    assert [status for _, status in ledger] == ["ok"]
    assert [call_id for call_id, _ in audit] == [ledger[0][0]]
    assert len(audit[0][1]) == 64  # a digest was recorded, a fallback one if need be


def test_a_call_that_fails_after_the_provider_answered_is_still_on_the_record(
    gateway: GatewayServer, upstream: UpstreamThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(cls: type[Usage], body: Any) -> Usage:
        raise ValueError("a usage block the proxy cannot read")

    key = new_key(gateway)
    monkeypatch.setattr(Usage, "from_body", classmethod(unreadable))
    response = post_raw(gateway, key, "/v1/chat/completions", chat_body("hello"))
    monkeypatch.undo()
    assert response.status_code == 500
    assert upstream.behaviour.requests == 1  # paid for: it must be on the record
    flushed(gateway, key)
    ledger, audit = rows(gateway)
    assert [status for _, status in ledger] == ["error"]
    assert [call_id for call_id, _ in audit] == [ledger[0][0]]
