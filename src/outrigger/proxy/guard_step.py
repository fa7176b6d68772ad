"""Guardrails around the provider call, per feature: injection screening of untrusted
content (rules and a learned classifier; block, flag or log), a system-prompt canary, and
checks of the answer: against the feature's JSON Schema, and for the prompt's own structure
(the canary, the data fences' markers and boundaries). A failed check gets one repair retry,
then the feature's fallback answer; a streamed answer that leaks is cut."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from outrigger.config.guard import GuardSettings, ResolvedGuard
from outrigger.errors import OUTPUT_WITHHELD
from outrigger.guard.base import InjectionScreen
from outrigger.guard.canary import Canary
from outrigger.guard.injection import Verdict
from outrigger.guard.output import OutputValidator, repair_prompt
from outrigger.guard.policy import InjectionPolicy
from outrigger.guard.structure import (
    CANARY_LEAK,
    LEAK_REPAIR,
    STRUCTURE_LEAK,
    PromptStructure,
)
from outrigger.llm.types import Usage, chunk_text, completion_text, content_text
from outrigger.memo import TextMemo
from outrigger.proxy.chain import Next
from outrigger.proxy.context import Blocked, CallContext, Completion, ProxyError, Reply, Stream
from outrigger.proxy.offload import run_sized, text_size
from outrigger.proxy.replies import completion_body, completion_chunks
from outrigger.telemetry.metrics import Metrics

log = logging.getLogger("outrigger.guard")
#: Roles whose content is untrusted: what users typed and what tools fetched.
UNTRUSTED_ROLES = frozenset({"user", "tool", "function"})


class OutputWithheld(ProxyError):
    status, kind, code = 502, "server_error", OUTPUT_WITHHELD


class GuardStep:
    def __init__(
        self,
        settings: GuardSettings,
        detector: InjectionScreen,
        metrics: Metrics,
        fallback_answer: str | None = None,
    ) -> None:
        self.settings = settings
        self.detector = detector
        self.metrics = metrics
        self.fallback_answer = fallback_answer
        #: Verdicts kept per tenant and text (a conversation is re-sent with every call).
        self.memo: TextMemo[Verdict] | None = (
            TextMemo(settings.memo_entries) if settings.memo_entries else None
        )
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
        texts = (content_text(m.get("content")) for m in ctx.request.messages)
        structure = PromptStructure.of(texts, canary)
        validator = self.validators.get(ctx.feature)
        streamed = ctx.request.stream
        if validator is not None and streamed:  # validated whole, then replayed as SSE
            ctx.request = replace(ctx.request, stream=False)
        reply = await call_next(ctx)
        if isinstance(reply, Completion):
            reply = await self._checked(ctx, reply, Checks(validator, structure), guard, call_next)
        elif structure.guarded:
            reply = Stream(self._watch_stream(ctx, reply.chunks, structure))
        if streamed and isinstance(reply, Completion):
            return Stream(completion_chunks(reply.body))
        return reply

    # -- injection ----------------------------------------------------------------------
    async def _screen(self, ctx: CallContext, policy: InjectionPolicy) -> None:
        """Block (a 400 that names no rule or score: those are logged), flag (the call goes
        on; ``injection`` in the header, ledger and audit record) or log."""
        if not policy.screens:
            return
        verdict = await run_sized(text_size(ctx.request.messages), self._worst, ctx)
        decision = policy.decide(verdict) if verdict is not None else "allow"
        if decision == "allow":
            return
        assert verdict is not None
        self.metrics.llm_guard.labels("injection", decision).inc()
        log.warning(
            "injection screen: %s (tenant %s, feature %s, score %.2f, fired %s, rules %s)",
            decision, ctx.tenant.id, ctx.feature, verdict.score, "+".join(verdict.fired),
            ", ".join(verdict.rules[:5]),
        )  # fmt: skip
        if decision == "block":
            ctx.flags.append("injection_blocked")
            raise Blocked("the request was refused by the prompt-injection screen")
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
            verdict = self._verdict(text, ctx.tenant.id)
            if worst is None or verdict.score > worst.score:
                worst = verdict
        return worst

    def _verdict(self, text: str, tenant: str) -> Verdict:
        """The screen's verdict, kept per (tenant, text): scoped by tenant, so one tenant's
        texts never make another's calls measurably faster."""
        if self.memo is None:
            return self.detector.screen(text)
        return self.memo.get(text, self.detector.screen, extra=tenant)

    # -- output checks ------------------------------------------------------------------
    async def _checked(
        self,
        ctx: CallContext,
        reply: Completion,
        checks: Checks,
        guard: ResolvedGuard,
        call_next: Next,
    ) -> Reply:
        """The answer as it came, else one repair, else the feature's fallback (or an
        error): invalid against the feature's schema, or carrying the prompt's structure."""
        problem = checks.problem(completion_text(reply.body))
        if problem is None or ctx.status != "ok":  # a fallback answer is not the model's output
            return reply
        self.metrics.llm_guard.labels(*problem.metric).inc()
        first = ctx.usage or Usage()
        answer = completion_text(reply.body)
        ctx.request = replace(
            ctx.request,
            messages=[
                *ctx.request.messages,
                {"role": "assistant", "content": answer},
                {"role": "user", "content": problem.repair},
            ],
        )
        retried = await call_next(ctx)
        second = ctx.usage or Usage()
        ctx.usage = Usage(
            first.prompt_tokens + second.prompt_tokens,
            first.completion_tokens + second.completion_tokens,
        )
        if isinstance(retried, Completion) and ctx.status == "ok":
            again = checks.problem(completion_text(retried.body))
            if again is None:
                self.metrics.llm_guard.labels(problem.metric[0], "repaired").inc()
                return retried
            problem = again
        log.warning("output of feature %s invalid after a repair: %s", ctx.feature, problem.flag)
        return self._withheld(ctx, guard, problem.flag, problem.message)

    async def _watch_stream(
        self, ctx: CallContext, chunks: AsyncIterator[dict[str, Any]], structure: PromptStructure
    ) -> AsyncIterator[dict[str, Any]]:
        """Chunks are passed on until the text so far repeats the canary or a fence; then
        the stream ends with an error (what was already sent cannot be recalled, and a
        repair cannot be streamed after it)."""
        seen = ""
        try:
            async for chunk in chunks:
                seen += chunk_text(chunk)
                leak = structure.leak(seen[-400:])
                if leak is not None:
                    self.metrics.llm_guard.labels(*LEAK_METRICS[leak]).inc()
                    ctx.status = "invalid"
                    ctx.flags.append(leak)
                    raise OutputWithheld("the answer was cut: it repeated the prompt's structure")
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    def _withheld(self, ctx: CallContext, guard: ResolvedGuard, flag: str, reason: str) -> Reply:
        """For a caller that takes fallbacks (the gateway): the feature's fallback answer, else
        the guard's, else the proxy's general one. For one that does not (pipelines): only a
        fallback set for the feature. Else an error."""
        ctx.status = "invalid"
        ctx.flags.append(flag)
        if ctx.fallback_answer:
            answer = guard.fallback_answer or self.fallback_answer
        else:
            answer = guard.feature_fallback
        if answer is None:
            raise OutputWithheld(f"the model's answer was withheld: {reason}")
        return Completion(completion_body(ctx.alias, answer, ctx.usage, "chatcmpl-withheld"))


#: A leak's (check, outcome) for the guard metric.
LEAK_METRICS = {CANARY_LEAK: ("canary", "leaked"), STRUCTURE_LEAK: ("structure", "leaked")}


@dataclass(frozen=True)
class Problem:
    flag: str
    message: str
    repair: str
    metric: tuple[str, str]


@dataclass(frozen=True)
class Checks:
    """What an answer is checked for: the feature's output schema, the prompt's structure."""

    validator: OutputValidator | None
    structure: PromptStructure

    def problem(self, text: str) -> Problem | None:
        leak = self.structure.leak(text)
        if leak is not None:
            return Problem(leak, "the answer repeated the prompt", LEAK_REPAIR, LEAK_METRICS[leak])
        if self.validator is None:
            return None
        check = self.validator.check_text(text)
        if check.ok:
            return None
        repair = repair_prompt(check.errors, self.validator.schema)
        return Problem("output_invalid", check.message, repair, ("output", "invalid"))


def _protect(messages: list[dict[str, Any]], canary: Canary) -> list[dict[str, Any]]:
    """The first system message carries the canary (no system prompt: nothing to leak)."""
    out = list(messages)
    for i, message in enumerate(out):
        if message.get("role") == "system" and isinstance(message.get("content"), str):
            out[i] = {**message, "content": canary.protect(message["content"])}
            break
    return out
