"""Guardrails around the provider call, per feature: injection screening of untrusted
content (block, flag or log), a system-prompt canary, and validation of the answer against
the feature's JSON Schema (one repair retry, then the feature's fallback answer)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from outrigger.config.guard import GuardSettings, ResolvedGuard
from outrigger.guard.canary import Canary
from outrigger.guard.injection import InjectionDetector, InjectionPolicy, Verdict
from outrigger.guard.output import OutputValidator, repair_prompt
from outrigger.llm.types import Usage, chunk_text, completion_text, content_text
from outrigger.proxy.chain import Next
from outrigger.proxy.context import Blocked, CallContext, Completion, ProxyError, Reply, Stream
from outrigger.proxy.offload import run_sized, text_size
from outrigger.proxy.replies import completion_body, completion_chunks
from outrigger.telemetry.metrics import Metrics

log = logging.getLogger("outrigger.guard")
#: Roles whose content is untrusted: what users typed and what tools fetched.
UNTRUSTED_ROLES = frozenset({"user", "tool", "function"})


class OutputWithheld(ProxyError):
    status, kind, code = 502, "server_error", "output_withheld"


class GuardStep:
    def __init__(
        self,
        settings: GuardSettings,
        detector: InjectionDetector,
        metrics: Metrics,
        fallback_answer: str | None = None,
    ) -> None:
        self.settings = settings
        self.detector = detector
        self.metrics = metrics
        self.fallback_answer = fallback_answer
        # Resolved once: a call only looks its feature up.
        self.resolved = {name: settings.for_feature(name) for name in settings.features}
        self.default = settings.for_feature("")
        self.validators = {
            name: OutputValidator(f.output_schema)
            for name, f in settings.features.items()
            if f.output_schema is not None
        }

    async def __call__(self, ctx: CallContext, call_next: Next) -> Reply:
        guard = self.resolved.get(ctx.feature, self.default)
        await self._screen(ctx, guard.injection)
        canary = Canary() if guard.canary else None
        if canary is not None:
            ctx.request = replace(ctx.request, messages=_protect(ctx.request.messages, canary))
        validator = self.validators.get(ctx.feature)
        streamed = ctx.request.stream
        if validator is not None and streamed:  # validated whole, then replayed as SSE
            ctx.request = replace(ctx.request, stream=False)
        reply = await call_next(ctx)
        if validator is not None and isinstance(reply, Completion):
            reply = await self._validated(ctx, reply, validator, guard, call_next)
        if canary is not None:
            reply = self._canary_checked(ctx, reply, canary, guard)
        if streamed and isinstance(reply, Completion):
            return Stream(completion_chunks(reply.body))
        return reply

    # -- injection ----------------------------------------------------------------------
    async def _screen(self, ctx: CallContext, policy: InjectionPolicy) -> None:
        if not policy.enabled:
            return
        verdict = await run_sized(text_size(ctx.request.messages), self._worst, ctx)
        decision = policy.decide(verdict) if verdict is not None else "allow"
        if decision == "allow":
            return
        assert verdict is not None
        self.metrics.llm_guard.labels("injection", decision).inc()
        rules = ", ".join(verdict.rules[:5])
        log.warning(
            "injection screen: %s (tenant %s, feature %s, score %.2f, rules %s)",
            decision, ctx.tenant.id, ctx.feature, verdict.score, rules,
        )  # fmt: skip
        if decision == "block":
            raise Blocked(f"the request was refused by the prompt-injection screen ({rules})")
        if decision == "flag":
            ctx.flags.append("injection")

    def _worst(self, ctx: CallContext) -> Verdict | None:
        worst: Verdict | None = None
        for message in ctx.request.messages:
            if message.get("role") not in UNTRUSTED_ROLES:
                continue
            text = content_text(message.get("content"))
            if not text:
                continue
            verdict = self.detector.screen(text)
            if worst is None or verdict.score > worst.score:
                worst = verdict
        return worst

    # -- output validation --------------------------------------------------------------
    async def _validated(
        self,
        ctx: CallContext,
        reply: Completion,
        validator: OutputValidator,
        guard: ResolvedGuard,
        call_next: Next,
    ) -> Reply:
        check = validator.check_text(completion_text(reply.body))
        if check.ok or ctx.status != "ok":  # a fallback answer is not the model's output
            return reply
        self.metrics.llm_guard.labels("output", "invalid").inc()
        first = ctx.usage or Usage()
        answer = completion_text(reply.body)
        ctx.request = replace(
            ctx.request,
            messages=[
                *ctx.request.messages,
                {"role": "assistant", "content": answer},
                {"role": "user", "content": repair_prompt(check.errors, validator.schema)},
            ],
        )
        retried = await call_next(ctx)
        second = ctx.usage or Usage()
        ctx.usage = Usage(
            first.prompt_tokens + second.prompt_tokens,
            first.completion_tokens + second.completion_tokens,
        )
        if isinstance(retried, Completion) and ctx.status == "ok":
            again = validator.check_text(completion_text(retried.body))
            if again.ok:
                self.metrics.llm_guard.labels("output", "repaired").inc()
                return retried
            check = again
        log.warning("output of feature %s invalid after a repair: %s", ctx.feature, check.message)
        return self._withheld(ctx, guard, "output_invalid", check.message)

    # -- canary -------------------------------------------------------------------------
    def _canary_checked(
        self, ctx: CallContext, reply: Reply, canary: Canary, guard: ResolvedGuard
    ) -> Reply:
        if isinstance(reply, Completion):
            if canary.leaked(completion_text(reply.body)):
                self.metrics.llm_guard.labels("canary", "leaked").inc()
                return self._withheld(ctx, guard, "canary_leak", "the answer revealed the prompt")
            return reply
        return Stream(self._watch_stream(ctx, reply.chunks, canary))

    async def _watch_stream(
        self, ctx: CallContext, chunks: AsyncIterator[dict[str, Any]], canary: Canary
    ) -> AsyncIterator[dict[str, Any]]:
        """Chunks are passed on until the text so far repeats the canary; then the stream
        ends with an error (what was already sent cannot be recalled)."""
        seen = ""
        try:
            async for chunk in chunks:
                seen += chunk_text(chunk)
                if canary.leaked(seen[-400:]):
                    self.metrics.llm_guard.labels("canary", "leaked").inc()
                    ctx.status = "invalid"
                    ctx.flags.append("canary_leak")
                    raise OutputWithheld("the answer was cut: it revealed the system prompt")
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    def _withheld(self, ctx: CallContext, guard: ResolvedGuard, flag: str, reason: str) -> Reply:
        ctx.status = "invalid"
        ctx.flags.append(flag)
        answer = guard.fallback_answer or self.fallback_answer
        if answer is None:
            raise OutputWithheld(f"the model's answer was withheld: {reason}")
        return Completion(completion_body(ctx.alias, answer, ctx.usage, "chatcmpl-withheld"))


def _protect(messages: list[dict[str, Any]], canary: Canary) -> list[dict[str, Any]]:
    """The first system message carries the canary (no system prompt: nothing to leak)."""
    out = list(messages)
    for i, message in enumerate(out):
        if message.get("role") == "system" and isinstance(message.get("content"), str):
            out[i] = {**message, "content": canary.protect(message["content"])}
            break
    return out
