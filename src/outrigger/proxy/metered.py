"""AI calls that are not chat completions (embeddings, ONNX predictions) through the proxy's
limits, ledger and audit trail: admitted by the same ``LimitStep`` and ``BudgetStep`` as a
chat call (RPM, TPM, the monthly quota and budgets, shared counters), recorded by the same
``RecordStep`` (one ledger row and one audit record, metrics, a span, the finishers).

They never pass the chat steps (guard, privacy, cache, routing): there is no answer to
screen or cache, and nothing to route.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from outrigger.llm.types import Usage
from outrigger.proxy.context import CallContext, Completion, ProxyError, Reply
from outrigger.proxy.service import LlmProxy

T = TypeVar("T")
#: The response digest of a call that produced nothing.
NOTHING = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Done(Generic[T]):
    """What the work of an admitted call produced, and what it is recorded with."""

    value: T
    usage: Usage
    cost_usd: float
    response_digest: str


async def metered(
    proxy: LlmProxy,
    ctx: CallContext,
    work: Callable[[CallContext], Awaitable[Done[T]]],
    prompt_digest: str,
    operation: str,
) -> T:
    """``work(ctx)`` once the limits admit the call, and the call on the record.

    ``work`` names what answers first (``ctx.alias``, ``ctx.deployment``, ``ctx.model``),
    then does the work: a ``ProxyError`` after that is recorded as a failed call (status
    ``error``, nothing produced); a refusal before it is only counted, as for chat calls."""
    found: list[Done[T]] = []

    async def run(ctx: CallContext) -> Reply:
        found.append(await work(ctx))
        return Completion({})

    try:
        proxy.recorder.check_backlog()
        await proxy.budgets(ctx, lambda admitted: proxy.limits(admitted, run))
    except ProxyError as exc:
        if ctx.alias:  # admitted, then failed: on the record like a failed chat call
            ctx.status = "error"
            ctx.usage = Usage()
            await proxy.recorder.record(ctx, ctx.usage, 0.0, prompt_digest, NOTHING, operation)
        else:
            proxy.metrics.llm_refusals.labels(exc.code or exc.kind).inc()
        raise
    done = found[0]
    ctx.usage = done.usage  # (the TPM finisher counts it against the admission estimate)
    await proxy.recorder.record(
        ctx, done.usage, done.cost_usd, prompt_digest, done.response_digest, operation
    )
    return done.value
