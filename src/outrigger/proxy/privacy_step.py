"""PII pseudonymisation around the provider call.

Every message leaves with placeholders (``<PERSON_1>``, ``<EMAIL_1>`` …) from one
per-request vault; the answer comes back re-hydrated (streams too, where a placeholder may
be split across chunks) for callers the feature's policy allows, redacted for the others.
The ledger and audit trail see only the redacted prompt and answer.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from outrigger.llm.types import completion_text
from outrigger.memo import TextMemo
from outrigger.privacy.base import Detector, Span
from outrigger.privacy.factory import MemoDetector
from outrigger.privacy.policy import PrivacyConfig
from outrigger.privacy.vault import Pseudonymizer
from outrigger.proxy.chain import Next
from outrigger.proxy.context import CallContext, Completion, Reply, Stream
from outrigger.proxy.offload import OFFLOAD_CHARS, run_sized, text_size
from outrigger.telemetry.metrics import Metrics


class PrivacyStep:
    def __init__(
        self, config: PrivacyConfig, detectors: Mapping[str, Detector], metrics: Metrics
    ) -> None:
        self.config = config
        self.detectors = detectors
        self.metrics = metrics
        #: Spans kept per tenant and text (a conversation is re-sent with every call).
        self.memos: dict[str, TextMemo[tuple[Span, ...]]] = (
            {mode: TextMemo(config.memo_entries) for mode in detectors}
            if config.memo_entries
            else {}
        )

    def detector(self, mode: str, tenant: str) -> Detector:
        memo = self.memos.get(mode)
        detector = self.detectors[mode]
        return detector if memo is None else MemoDetector(detector, memo, tenant)

    async def __call__(self, ctx: CallContext, call_next: Next) -> Reply:
        policy = self.config.policy_for(ctx.feature)
        if not policy.enabled:
            return await call_next(ctx)
        pseudo = Pseudonymizer(self.detector(policy.mode, ctx.tenant.id), entities=policy.entities)
        original = ctx.request.messages
        # spaCy takes milliseconds on any text, the patterns only on large ones: off the loop.
        size = OFFLOAD_CHARS + 1 if policy.mode == "full" else text_size(original)
        messages = await run_sized(size, redact_messages, pseudo, original)
        vault = pseudo.vault
        if not len(vault):
            return await call_next(ctx)
        self.metrics.llm_guard.labels("pii", "redacted").inc(len(vault))
        ctx.request = replace(ctx.request, messages=messages)
        ctx.pii_digest = hashlib.sha256(b"outrigger-pii\0" + vault.to_bytes()).hexdigest()
        reply = await call_next(ctx)
        if not policy.rehydrates_for(ctx.tenant.roles):
            return reply
        if isinstance(reply, Completion):
            ctx.provider_text = completion_text(reply.body)
            return Completion(_rehydrated_body(pseudo, reply.body))
        return Stream(_rehydrated_chunks(ctx, pseudo, reply.chunks))


def redact_messages(pseudo: Pseudonymizer, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``messages`` with the text of every role pseudonymised (one vault)."""
    return [_redact_message(pseudo, message) for message in messages]


def _redact_message(pseudo: Pseudonymizer, message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        return {**message, "content": pseudo.pseudonymize(content)}
    if isinstance(content, list):
        return {**message, "content": [_redact_part(pseudo, p) for p in content]}
    return message


def _redact_part(pseudo: Pseudonymizer, part: Any) -> Any:
    if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
        return {**part, "text": pseudo.pseudonymize(part["text"])}
    return part


def _rehydrated_body(pseudo: Pseudonymizer, body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for choice in body.get("choices") or []:
        message = choice.get("message") or {}
        if isinstance(message.get("content"), str):
            message["content"] = pseudo.rehydrate(message["content"])
    return body


async def _rehydrated_chunks(
    ctx: CallContext, pseudo: Pseudonymizer, chunks: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[dict[str, Any]]:
    """Re-hydrate choice 0's deltas; text held back at a chunk's end (a placeholder not yet
    complete) goes out with the next chunk, or with the finish chunk."""
    rehydrator = pseudo.rehydrator()
    raw: list[str] = []
    last: dict[str, Any] = {}
    try:
        async for chunk in chunks:
            last = chunk
            choice = _choice0(chunk)
            if choice is None:
                yield chunk
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str):
                raw.append(text)
                text = rehydrator.feed(text)
            if choice.get("finish_reason") is not None:
                text = (text or "") + rehydrator.flush()
            yield _with_delta_text(chunk, text) if isinstance(text, str) else chunk
        rest = rehydrator.flush()
        if rest:
            base: dict[str, Any] = {k: last[k] for k in ("id", "created", "model") if k in last}
            base["object"] = "chat.completion.chunk"
            yield {**base, "choices": [
                {"index": 0, "delta": {"content": rest}, "finish_reason": None}]}  # fmt: skip
    finally:
        ctx.provider_text = "".join(raw)
        await chunks.aclose()  # type: ignore[attr-defined]


def _choice0(chunk: dict[str, Any]) -> dict[str, Any] | None:
    for choice in chunk.get("choices") or []:
        if choice.get("index", 0) == 0:
            return dict(choice)
    return None


def _with_delta_text(chunk: dict[str, Any], text: str) -> dict[str, Any]:
    choices = [
        {**c, "delta": {**(c.get("delta") or {}), "content": text}} if c.get("index", 0) == 0 else c
        for c in chunk.get("choices") or []
    ]
    return {**chunk, "choices": choices}
