"""What no provider may be sent: text UTF-8 cannot encode, found wherever it hides, refused
by the gateway's request models and by the proxy's first step (which pipelines go through
too); and the hashes that must never fail on it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from outrigger.cache import CacheRequest, cache_keys
from outrigger.gateway.schemas import ChatCompletionRequest, EmbeddingsRequest
from outrigger.llm.types import ChatRequest
from outrigger.proxy.checks import check_request
from outrigger.proxy.context import BadRequest
from outrigger.storage.audit import sha256_text
from outrigger.utf8 import unencodable

LONE = "a \ud800 b"


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("plain ascii", None),
        ("caf\u00e9 \N{GRINNING FACE}", None),
        (LONE, "$"),
        ({"messages": [{"role": "user", "content": "ok"}, {"content": LONE}]},
         "messages[1].content"),
        ({"tools": [{"function": {"name": "\udfff"}}]}, "tools[0].function.name"),
        ({"k\udc00": "v"}, "k\\udc00"),
        ([1, 2.5, None, True, ("t", LONE)], "[4][1]"),
    ],
)  # fmt: skip
def test_unencodable_names_where_the_text_is(value: Any, where: str | None) -> None:
    assert unencodable(value) == where


def chat(**changes: Any) -> dict[str, Any]:
    return {"model": "chat-default", "messages": [{"role": "user", "content": "hi"}], **changes}


@pytest.mark.parametrize(
    "body",
    [
        chat(messages=[{"role": "user", "content": LONE}]),
        chat(messages=[{"role": "user", "content": "hi", "name": "carol\ud800"}]),
        chat(user="u\udfff"),
        chat(response_format={"type": "json_schema", "json_schema": {"name": LONE}}),
    ],
)
def test_the_chat_request_model_refuses_unencodable_text(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="UTF-8"):
        ChatCompletionRequest.model_validate(body)


def test_the_embeddings_request_model_refuses_unencodable_text() -> None:
    with pytest.raises(ValidationError, match=r"input\[1\]: text must be valid UTF-8"):
        EmbeddingsRequest.model_validate({"model": "m", "input": ["fine", LONE]})


@pytest.mark.parametrize(
    ("request_", "where"),
    [
        (ChatRequest("chat-default", [{"role": "user", "content": LONE}]), "messages[0].content"),
        (ChatRequest("chat-default", [{"role": "user", "content": "x"}], {"stop": [LONE]}),
         "stop[0]"),
        (ChatRequest("m\ud800", [{"role": "user", "content": "x"}]), "model"),
    ],
)  # fmt: skip
def test_the_proxy_refuses_it_for_every_caller(request_: ChatRequest, where: str) -> None:
    with pytest.raises(BadRequest, match=rf"^{re.escape(where)}: text must be valid UTF-8"):
        check_request(request_, 100)


def test_hashes_and_cache_keys_never_fail_on_it() -> None:
    assert sha256_text("caf\u00e9") == (
        "850f7dc43910ff890f8879c0ed26fe697c93a067ad93a7d50f466a7028a9bf4e"
    )  # valid text hashes as it always did
    assert sha256_text(LONE) != sha256_text("a \udfff b")
    request = CacheRequest("acme", "chat", "chat-default", [{"role": "user", "content": LONE}])
    keys = cache_keys(request, "embedder")
    assert len(keys.exact) == 64
    assert keys.text is None  # never embedded (the tokenizer refuses it): exact matches only
