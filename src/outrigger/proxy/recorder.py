"""The outermost step: once a call is over (a stream: at its last chunk, or when the client
goes away) write its ledger row and audit record, count it, and run the context's finishers."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from opentelemetry.trace import NoOpTracer, SpanKind, Status, StatusCode, Tracer

from outrigger.config.llm import LlmSettings
from outrigger.llm.types import Usage, chunk_text, completion_text, estimate_tokens
from outrigger.proxy.chain import Next
from outrigger.proxy.context import (
    Backlogged,
    Blocked,
    CallContext,
    Completion,
    ProxyError,
    Reply,
    Stream,
)
from outrigger.proxy.limits import month_of
from outrigger.storage.audit import AuditEntry, sha256_text
from outrigger.storage.ledger import LedgerRecord
from outrigger.storage.writer import BackgroundWriter
from outrigger.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
#: The trail's alias column; an unknown model name refused before routing is cut to it.
MAX_ALIAS = 128
#: The audit record's model column. The model a cache hit reports is whatever the provider
#: answered with; a longer one would be refused by PostgreSQL and the record set aside.
MAX_MODEL = 200


def _flags(ctx: CallContext) -> str | None:
    """The guard's marks of the call for the ledger and audit record (None: unmarked)."""
    return ",".join(dict.fromkeys(ctx.flags))[:200] or None


def cost_usd(settings: LlmSettings, deployment: str | None, usage: Usage) -> float:
    if deployment is None:
        return 0.0
    dep = settings.deployments[deployment]
    return (
        usage.prompt_tokens * dep.input_price + usage.completion_tokens * dep.output_price
    ) / 1e6


class RecordStep:
    def __init__(
        self,
        settings: LlmSettings,
        ledger: BackgroundWriter[LedgerRecord],
        audit: BackgroundWriter[AuditEntry],
        metrics: Metrics,
        tracer: Tracer | None = None,
    ) -> None:
        self.tracer = tracer or NoOpTracer()
        self.settings = settings
        self.ledger = ledger
        self.audit = audit
        self.metrics = metrics

    async def __call__(self, ctx: CallContext, call_next: Next) -> Reply:
        try:
            self.check_backlog()
            reply = await call_next(ctx)
        except ProxyError as exc:
            if ctx.alias:  # routed: an LLM call was attempted, so it is on the record
                ctx.status = "error"
                await self.finish(ctx)
            else:
                self.metrics.llm_refusals.labels(exc.code or exc.kind).inc()
                if isinstance(exc, Blocked):
                    self._audit_refusal(ctx)
            raise
        except Exception:  # a bug after routing: the provider may have answered (and billed)
            if ctx.alias:
                ctx.status = "error"
                await self.finish(ctx)
            raise
        if isinstance(reply, Completion):
            ctx.response_text = _text_or_nothing(reply.body, ctx)
            await self.finish(ctx)
            return reply
        return Stream(self._watch(ctx, reply.chunks))

    def check_backlog(self) -> None:
        """Refuse a new call while the ledger or the audit trail holds too many unwritten
        records: every call must be on the record, and the backlog lives in memory."""
        for writer in (self.ledger, self.audit):
            if writer.full:
                raise Backlogged(
                    f"the {writer.name} has {writer.pending} records waiting for the database; "
                    "new calls resume once they are written",
                    retry_after_s=max(1.0, 5 * writer.interval_s),
                )

    def _audit_refusal(self, ctx: CallContext) -> None:
        """A request the guard refused goes on the audit trail (status ``blocked``, its
        flags) but not in the ledger: no call was made, nothing is billed or counted."""
        self.audit.add(
            AuditEntry(
                time.time(), ctx.call_id, ctx.tenant.id, ctx.feature,
                (ctx.alias or ctx.request.model)[:MAX_ALIAS], None, None,
                digest_or_fallback(prompt_hash, ctx, ctx.request.messages), sha256_text(""),
                0, 0, 0.0, "blocked", ctx.trace_id, ctx.tenant.key_id, None, _flags(ctx),
            )
        )  # fmt: skip

    async def _watch(
        self, ctx: CallContext, chunks: AsyncIterator[dict[str, Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        parts: list[str] = []
        last: dict[str, Any] = {}
        try:
            async for chunk in chunks:
                parts.append(chunk_text(chunk))
                last = chunk
                yield chunk
            if ctx.usage is None:  # the provider sent none: every stream ends with usage
                ctx.response_text = "".join(parts)
                yield usage_chunk(last, self._usage(ctx))
        finally:
            ctx.response_text = "".join(parts)
            await self.finish(ctx)

    def _usage(self, ctx: CallContext) -> Usage:
        """What the provider reported, or an estimate when it reported nothing."""
        if ctx.usage is None or (ctx.usage.prompt_tokens == 0 and ctx.status == "ok"):
            ctx.usage = Usage(
                estimate_tokens(ctx.request.text()), estimate_tokens(ctx.response_text)
            )
        return ctx.usage

    async def finish(self, ctx: CallContext) -> None:
        usage = self._usage(ctx)
        cost = cost_usd(self.settings, ctx.deployment, usage)
        prompt = digest_or_fallback(prompt_hash, ctx, ctx.request.messages)
        answer = digest_or_fallback(response_hash, ctx, _audited_text(ctx))
        await self.record(ctx, usage, cost, prompt, answer)

    async def record(
        self,
        ctx: CallContext,
        usage: Usage,
        cost: float,
        prompt_digest: str,
        response_digest: str,
        operation: str = "chat",
    ) -> None:
        """Queue the call's ledger row and audit record, then count it, trace it, and run its
        finishers (chat calls through ``finish``; embedding and predict calls directly).

        Never raises once the rows are queued: the answer is already in the caller's hands
        (or on its way), and a failure here must neither lose the record nor turn a served
        answer into an error the client retries (and pays) again."""
        now = time.time()
        latency = ctx.elapsed_ms()
        ctx.cost_usd = cost
        self.ledger.add(
            LedgerRecord(
                ctx.call_id, now, month_of(now), ctx.tenant.id, ctx.feature, ctx.alias,
                ctx.deployment, usage.prompt_tokens, usage.completion_tokens, cost, latency,
                ctx.cache, ctx.status, ctx.trace_id, _flags(ctx), ctx.tenant.key_id,
            )
        )  # fmt: skip
        self.audit.add(
            AuditEntry(
                now, ctx.call_id, ctx.tenant.id, ctx.feature, ctx.alias, ctx.deployment,
                ctx.model[:MAX_MODEL] if ctx.model else ctx.model, prompt_digest, response_digest,
                usage.prompt_tokens, usage.completion_tokens, cost, ctx.status, ctx.trace_id,
                ctx.tenant.key_id, None, _flags(ctx),
            )
        )  # fmt: skip
        try:
            self._count(ctx, usage, cost, latency)
            self._span(ctx, usage, cost, operation)
        except Exception:  # metrics and traces are not worth the call
            log.exception("call %s: counting or tracing failed", ctx.call_id)
        for finisher in ctx.finishers:
            try:
                await finisher(ctx)
            except Exception:  # e.g. the TPM counter's Redis went away after admission
                log.exception("call %s: a finisher failed", ctx.call_id)

    def _count(self, ctx: CallContext, usage: Usage, cost: float, latency_ms: float) -> None:
        series = self.metrics.llm_call(
            ctx.alias, ctx.deployment or "", ctx.feature, ctx.status, ctx.cache
        )
        series.count(latency_ms / 1000, usage.prompt_tokens, usage.completion_tokens, cost)

    def _span(self, ctx: CallContext, usage: Usage, cost: float, operation: str) -> None:
        """One CLIENT span per call, child of the caller's trace (the gateway's
        ``traceparent``, or the pipeline step's span), with GenAI attributes."""
        span = self.tracer.start_span(
            f"{operation} {ctx.alias or ctx.request.model}",
            context=ctx.parent,
            kind=SpanKind.CLIENT,
            start_time=ctx.started_ns,
            attributes={
                "gen_ai.operation.name": operation,
                "gen_ai.request.model": ctx.request.model,
                "gen_ai.response.model": ctx.model or "",
                "gen_ai.usage.input_tokens": usage.prompt_tokens,
                "gen_ai.usage.output_tokens": usage.completion_tokens,
                "outrigger.tenant": ctx.tenant.id,
                "outrigger.feature": ctx.feature,
                "outrigger.deployment": ctx.deployment or "",
                "outrigger.cost_usd": cost,
                "outrigger.cache": ctx.cache,
                "outrigger.status": ctx.status,
            },
        )
        if ctx.status == "error":
            span.set_status(Status(StatusCode.ERROR))
        span.end()


def usage_chunk(last: dict[str, Any], usage: Usage) -> dict[str, Any]:
    return {
        "id": last.get("id", "chatcmpl-outrigger"),
        "object": "chat.completion.chunk",
        "created": last.get("created", int(time.time())),
        "model": last.get("model", ""),
        "choices": [],
        "usage": usage.as_dict(),
    }


def _text_or_nothing(body: dict[str, Any], ctx: CallContext) -> str:
    """The answer's text; "" when the body has no shape we can read (it is recorded all the
    same, with the hash of nothing, and passed on as the provider sent it)."""
    try:
        return completion_text(body)
    except Exception:
        log.exception("call %s: the answer's text could not be read", ctx.call_id)
        return ""


def _audited_text(ctx: CallContext) -> str:
    return ctx.response_text if ctx.provider_text is None else ctx.provider_text


def prompt_hash(ctx: CallContext) -> str:
    """Hash of the messages as they left for the provider (after any redaction)."""
    return sha256_text(json.dumps(ctx.request.messages, sort_keys=True, ensure_ascii=False))


def response_hash(ctx: CallContext) -> str:
    """Hash of the answer as the provider gave it."""
    return sha256_text(_audited_text(ctx))


def digest_or_fallback(digest: Callable[[CallContext], str], ctx: CallContext, value: Any) -> str:
    """``digest(ctx)``, or when computing it fails, a digest of ``value``'s repr with
    undecodable characters escaped (which cannot fail): a call is recorded with a fallback
    digest rather than not at all. The failure is logged as an error to investigate."""
    try:
        return digest(ctx)
    except Exception:
        log.exception("call %s: digest failed; recording a fallback digest", ctx.call_id)
        return hashlib.sha256(repr(value).encode("utf-8", "backslashreplace")).hexdigest()
