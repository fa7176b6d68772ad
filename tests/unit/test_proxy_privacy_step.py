"""The proxy's privacy step on its own: what the provider is given, and the answer it
re-hydrates, plain and streamed with a placeholder cut at every position."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from outrigger.llm.types import ChatRequest
from outrigger.privacy import PrivacyConfig, PrivacyPolicy, RegexDetector
from outrigger.proxy.context import CallContext, Completion, Reply, Stream
from outrigger.proxy.privacy_step import PrivacyStep
from outrigger.storage.tenants import Tenant
from outrigger.telemetry.metrics import Metrics

EMAIL = "asha.rao@example.org"
CARD = "4111 1111 1111 1111"
TEXT = f"Refund the card {CARD} and write to {EMAIL}."


def context(feature: str = "chat", stream: bool = False) -> CallContext:
    request = ChatRequest(
        "chat-default",
        [
            {"role": "system", "content": f"The customer is {EMAIL}."},
            {"role": "user", "content": [{"type": "text", "text": TEXT}]},
        ],
        stream=stream,
    )
    return CallContext(Tenant("acme", "Acme", "standard"), feature, request)


def step(**features: PrivacyPolicy) -> PrivacyStep:
    config = PrivacyConfig(default=PrivacyPolicy(mode="fast"), features=features)
    return PrivacyStep(config, {"fast": RegexDetector()}, Metrics())


def body(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}


async def test_provider_sees_placeholders_and_the_caller_the_originals() -> None:
    seen: list[ChatRequest] = []

    async def provider(ctx: CallContext) -> Reply:
        seen.append(ctx.request)
        user = ctx.request.messages[1]["content"][0]["text"]
        return Completion(body(f"Done: {user}"))

    ctx = context()
    reply = await step()(ctx, provider)
    sent = repr(seen[0].messages)
    assert EMAIL not in sent and CARD not in sent
    assert "<EMAIL_1>" in seen[0].messages[0]["content"]  # same vault across messages
    assert seen[0].messages[1]["content"][0]["text"] == (
        "Refund the card <CARD_1> and write to <EMAIL_1>."
    )
    assert isinstance(reply, Completion)
    assert reply.body["choices"][0]["message"]["content"] == f"Done: {TEXT}"
    assert ctx.provider_text is not None and EMAIL not in ctx.provider_text
    assert ctx.pii_digest is not None


async def test_redacted_policy_returns_placeholders() -> None:
    async def provider(ctx: CallContext) -> Reply:
        return Completion(body("Wrote to <EMAIL_1>."))

    reply = await step(reports=PrivacyPolicy(mode="fast", output="redacted"))(
        context("reports"), provider
    )
    assert isinstance(reply, Completion)
    assert reply.body["choices"][0]["message"]["content"] == "Wrote to <EMAIL_1>."


@pytest.mark.parametrize("cut", range(1, len("Wrote to <EMAIL_1> about <CARD_1>.")))
async def test_stream_rehydrates_wherever_the_chunks_are_cut(cut: int) -> None:
    answer = "Wrote to <EMAIL_1> about <CARD_1>."

    async def chunks() -> AsyncIterator[dict[str, Any]]:
        for part in (answer[:cut], answer[cut:]):
            yield {"choices": [{"index": 0, "delta": {"content": part}, "finish_reason": None}]}
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}

    async def provider(ctx: CallContext) -> Reply:
        return Stream(chunks())

    ctx = context(stream=True)
    reply = await step()(ctx, provider)
    assert isinstance(reply, Stream)
    out = [c async for c in reply.chunks]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in out if c["choices"])
    assert text == f"Wrote to {EMAIL} about {CARD}."
    assert out[-1].get("usage")  # the usage chunk still ends the stream
    assert ctx.provider_text == answer
