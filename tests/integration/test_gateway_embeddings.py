"""``POST /v1/embeddings`` on the real gateway, driven by the real ``openai`` client.

The quality checks use the local all-MiniLM-L6-v2 int8 model (skipped without the
``embeddings`` extra); the plumbing (auth, validation, limits, ledger, audit) runs on the
model-free hashing embedder as well, so it is tested on every install.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import sqlalchemy as sa

from outrigger.embeddings.files import MINILM_INT8_ONNX, MINILM_TOKENIZER
from outrigger.errors import ConfigError
from outrigger.proxy.service import build_proxy
from outrigger.storage.audit import AuditStore
from outrigger.storage.schema import llm_calls
from outrigger.storage.tenants import Tenant
from tests.gateway_server import (
    TRACEPARENT,
    GatewayServer,
    SpanCapture,
    joins_the_callers_trace,
    llm_settings,
)
from tests.upstream import UpstreamThread

MINILM = "all-MiniLM-L6-v2-int8"
HASHING = "hashing-384"


def _minilm_missing() -> str | None:
    try:
        import tokenizers  # noqa: F401

        MINILM_INT8_ONNX.locate()
        MINILM_TOKENIZER.locate()
    except (ImportError, ConfigError) as exc:
        return f"the 'embeddings' extra (all-MiniLM-L6-v2 int8) is not installed: {exc}"
    return None


needs_minilm = pytest.mark.skipif(_minilm_missing() is not None, reason=str(_minilm_missing()))


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamThread]:
    up = UpstreamThread().start()
    yield up
    up.stop()


def start(path: Path, upstream: UpstreamThread, kind: str, serve: bool = True) -> GatewayServer:
    settings = llm_settings(
        path,
        {"up": upstream.url},
        embeddings={"kind": kind, "serve": serve},
        tenancy={"tiers": {"enterprise": {}, "tiny": {"monthly_calls": 2}}},
    )
    return GatewayServer(settings).start()


@pytest.fixture(scope="module")
def minilm(
    tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamThread
) -> Iterator[GatewayServer]:
    reason = _minilm_missing()
    if reason is not None:
        pytest.skip(reason)
    server = start(tmp_path_factory.mktemp("minilm"), upstream, "local")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hashing(
    tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamThread
) -> Iterator[GatewayServer]:
    server = start(tmp_path_factory.mktemp("hashing"), upstream, "hashing")
    yield server
    server.stop()


def new_key(gw: GatewayServer, tenant: str = "acme", tier: str = "enterprise") -> str:
    tenants = gw.proxy.tenants
    if tenants.get_tenant(tenant) is None:
        tenants.create_tenant(Tenant(tenant, tenant.title(), tier))
    key, _ = tenants.create_key(tenant, "test")
    return key


def client(gw: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def post(gw: GatewayServer, body: Any, key: str | None = None, **headers: str) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(f"{gw.url}/v1/embeddings", json=body, headers=headers, timeout=30)


SIMILAR = (
    "How do I transfer money from my savings to my checking account?",
    "What is the way to move funds out of savings into checking?",
)
UNRELATED = "The courier left my parcel at the wrong address in Rotterdam."


@needs_minilm
def test_minilm_vectors_through_the_openai_client(minilm: GatewayServer) -> None:
    answer = client(minilm, new_key(minilm)).embeddings.create(
        model=MINILM, input=[*SIMILAR, UNRELATED]
    )  # the client asks for base64 and decodes it
    vectors = np.array([d.embedding for d in answer.data], dtype=np.float32)
    assert [d.index for d in answer.data] == [0, 1, 2]
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    same, other = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert same > other + 0.3, (same, other)
    assert answer.model == MINILM
    assert answer.usage.prompt_tokens == answer.usage.total_tokens > 3 * 5


@needs_minilm
def test_float_and_base64_encodings_agree(minilm: GatewayServer) -> None:
    key = new_key(minilm)
    floats = client(minilm, key).embeddings.create(
        model=MINILM, input=SIMILAR[0], encoding_format="float"
    )
    raw = post(minilm, {"model": MINILM, "input": SIMILAR[0], "encoding_format": "base64"}, key)
    assert raw.status_code == 200, raw.text
    encoded = raw.json()["data"][0]["embedding"]
    decoded = np.frombuffer(base64.b64decode(encoded), dtype="<f4")
    np.testing.assert_allclose(decoded, floats.data[0].embedding, atol=1e-7)
    assert len(floats.data) == 1 and len(floats.data[0].embedding) == 384


@needs_minilm
def test_dimensions_equal_to_the_models_are_accepted(minilm: GatewayServer) -> None:
    answer = client(minilm, new_key(minilm)).embeddings.create(
        model=MINILM, input="hello", dimensions=384
    )
    assert len(answer.data[0].embedding) == 384
    with pytest.raises(openai.BadRequestError, match="384"):
        client(minilm, new_key(minilm)).embeddings.create(
            model=MINILM, input="hello", dimensions=256
        )


def test_a_missing_or_wrong_key_is_a_401(hashing: GatewayServer) -> None:
    response = post(hashing, {"model": HASHING, "input": "hello"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        client(hashing, "or-nope-nope").embeddings.create(model=HASHING, input="hello")


@pytest.mark.parametrize(
    "body",
    [
        {"model": HASHING, "input": ""},
        {"model": HASHING, "input": []},
        {"model": HASHING, "input": ["fine", "  "]},
        {"model": HASHING, "input": [[101, 2023, 102]]},  # token arrays are not served
        {"model": HASHING, "input": ["x"] * 2049},
        {"model": HASHING, "input": "hello", "encoding_format": "int8"},
        {"input": "hello"},
    ],
    ids=["empty", "empty-list", "blank-item", "tokens", "too-many", "format", "no-model"],
)
def test_invalid_requests_are_400s(hashing: GatewayServer, body: Any) -> None:
    response = post(hashing, body, new_key(hashing))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]


def test_unknown_model_is_a_404_naming_the_served_one(hashing: GatewayServer) -> None:
    with pytest.raises(openai.NotFoundError, match=HASHING):
        client(hashing, new_key(hashing)).embeddings.create(
            model="text-embedding-ada-002", input="hello"
        )


def test_models_lists_the_embedding_model_beside_the_chat_aliases(hashing: GatewayServer) -> None:
    listed = [m.id for m in client(hashing, new_key(hashing)).models.list()]
    assert listed == ["chat-default", HASHING]


def test_every_call_has_a_ledger_row_and_an_audit_record(hashing: GatewayServer) -> None:
    key = new_key(hashing, "ledgered")
    raw = client(hashing, key).embeddings.with_raw_response.create(
        model=HASHING, input=["one two three", "four"], extra_headers={"X-Outrigger-Feature": "kb"}
    )
    answer = raw.parse()
    call_id = raw.headers["x-outrigger-call-id"]
    usage = httpx.get(
        f"{hashing.url}/v1/usage", headers={"Authorization": f"Bearer {key}"}
    ).json()  # flushes the ledger writer
    assert [(d["feature"], d["alias"], d["calls"]) for d in usage["data"]] == [("kb", HASHING, 1)]
    assert usage["data"][0]["tokens_in"] == answer.usage.prompt_tokens > 0
    assert usage["total"]["cost_usd"] == 0
    proxy = hashing.proxy
    with proxy.db.engine.connect() as conn:
        row = conn.execute(sa.select(llm_calls).where(llm_calls.c.id == call_id)).one()
    assert (row.deployment, row.status, row.tokens_out) == ("local", "ok", 0)
    audit = [r for r in AuditStore(proxy.db).records() if r["call_id"] == call_id]
    assert len(audit) == 1 and audit[0]["tenant_id"] == "ledgered"
    assert audit[0]["model"] == "local" and audit[0]["tokens_in"] == answer.usage.prompt_tokens


def test_the_call_span_joins_the_callers_trace(tmp_path: Path, upstream: UpstreamThread) -> None:
    spans = SpanCapture()
    settings = llm_settings(tmp_path, {"up": upstream.url}, embeddings={"kind": "hashing"})
    server = GatewayServer(settings, build_proxy(settings, tracer=spans.tracer)).start()
    try:
        key = new_key(server)
        post(server, {"model": HASHING, "input": "hi"}, key, traceparent=TRACEPARENT)
        post(server, {"model": HASHING, "input": "no parent"}, key)
        joined, alone = spans.finished(at_least=2)
    finally:
        server.stop()
    assert joined.name == "embeddings hashing-384" and joins_the_callers_trace(joined)
    assert alone.parent is None and alone.context.trace_id != joined.context.trace_id
    assert dict(joined.attributes or {})["gen_ai.operation.name"] == "embeddings"


def test_embeddings_count_against_the_monthly_quota(hashing: GatewayServer) -> None:
    key = new_key(hashing, "tiny-co", tier="tiny")  # two calls a month
    embed = client(hashing, key).embeddings
    embed.create(model=HASHING, input="first")
    embed.create(model=HASHING, input="second")
    with pytest.raises(openai.RateLimitError) as refused:
        embed.create(model=HASHING, input="third")
    assert refused.value.code == "insufficient_quota"


def test_without_an_embedder_the_route_says_why(tmp_path: Path, upstream: UpstreamThread) -> None:
    server = start(tmp_path, upstream, "hashing", serve=False)
    try:
        response = post(server, {"model": HASHING, "input": "hello"}, new_key(server))
        assert response.status_code == 404
        error = response.json()["error"]
        assert (
            error["code"] == "embeddings_unavailable"
            and "outrigger[embeddings]" in error["message"]
        )
        listed = [m.id for m in client(server, new_key(server)).models.list()]
        assert listed == ["chat-default"]
    finally:
        server.stop()
