"""The limits step: per-tenant and per-feature RPM/TPM, and the tier's monthly call quota.

Tokens are not known before the call: the prompt is estimated at admission and the
difference is counted when the call is over. The monthly counter starts from the ledger
the first time a process sees a tenant in a month, so a restart does not reset a quota.
When the counters cannot be reached the call is refused (503 ``limiter_unavailable`` with
``Retry-After``): a limit is never skipped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from outrigger.config.llm import TenancySettings
from outrigger.llm.types import estimate_tokens
from outrigger.proxy.chain import Next
from outrigger.proxy.context import (
    CallContext,
    ProxyError,
    QuotaExceeded,
    RateLimited,
    Reply,
    Unavailable,
)
from outrigger.proxy.limits import (
    SLOT_S,
    Limiter,
    LimiterUnavailable,
    Window,
    calendar_month,
    month_of,
    sliding_minute,
)

CountCalls = Callable[[str, str], Awaitable[int]]  # (tenant, month) -> calls in the ledger


class TierMissing(ProxyError):
    status, kind, code = 403, "permission_error", "tier_not_configured"


class LimiterDown(Unavailable):
    """The limit counters cannot be reached (503; pipelines retry the event later)."""

    code = "limiter_unavailable"


class ModelNotAllowed(ProxyError):
    status, kind, code = 403, "permission_error", "model_not_allowed"


def _key_windows(ctx: CallContext, base: str, tokens: int, now: float) -> list[Window]:
    """The API key's own RPM and TPM, counted within (and beside) the tenant's."""
    limits, key_id = ctx.tenant.key_limits, ctx.tenant.key_id
    if limits is None or key_id is None:
        return []
    kbase = f"{base}:k:{key_id}"
    windows = []
    if limits.rpm is not None:
        windows.append(sliding_minute(f"{kbase}:rpm", "key_rpm", limits.rpm, 1, now))
    if limits.tpm is not None:
        windows.append(sliding_minute(f"{kbase}:tpm", "key_tpm", limits.tpm, tokens, now))
    return windows


def check_model(ctx: CallContext) -> None:
    """A key limited to some models may ask for those aliases only."""
    limits = ctx.tenant.key_limits
    if limits is not None and limits.models is not None and ctx.request.model not in limits.models:
        raise ModelNotAllowed(
            f"this API key may not use model {ctx.request.model!r}; "
            f"it may use: {', '.join(sorted(limits.models)) or 'none'}"
        )


class LimitStep:
    def __init__(
        self,
        limiter: Limiter,
        settings: TenancySettings,
        count_calls: CountCalls,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limiter = limiter
        self.settings = settings
        self._count_calls = count_calls
        self._clock = clock
        self._seeded: set[str] = set()

    def windows(self, ctx: CallContext, tokens: int, now: float) -> list[Window]:
        tier = self.settings.tiers.get(ctx.tenant.tier)
        if tier is None:
            raise TierMissing(f"tenant tier {ctx.tenant.tier!r} is not configured")
        base = f"or:{{{ctx.tenant.id}}}"  # hash tag: one Redis Cluster slot per tenant
        windows = []
        if tier.rpm is not None:
            windows.append(sliding_minute(f"{base}:rpm", "rpm", tier.rpm, 1, now))
        if tier.tpm is not None:
            windows.append(sliding_minute(f"{base}:tpm", "tpm", tier.tpm, tokens, now))
        feature = self.settings.features.get(ctx.feature)
        if feature is not None:
            fbase = f"{base}:f:{ctx.feature}"
            if feature.rpm is not None:
                windows.append(sliding_minute(f"{fbase}:rpm", "feature_rpm", feature.rpm, 1, now))
            if feature.tpm is not None:
                windows.append(
                    sliding_minute(f"{fbase}:tpm", "feature_tpm", feature.tpm, tokens, now)
                )
        windows += _key_windows(ctx, base, tokens, now)
        if tier.monthly_calls is not None:
            windows.append(calendar_month(f"{base}:calls", tier.monthly_calls, 1, now))
        return windows

    async def _seed(self, ctx: CallContext, window: Window, now: float) -> None:
        marker = f"{ctx.tenant.id}:{month_of(now)}"
        if marker not in self._seeded:
            await self.limiter.seed(window, await self._count_calls(ctx.tenant.id, month_of(now)))
            self._seeded.add(marker)

    async def __call__(self, ctx: CallContext, call_next: Next) -> Reply:
        check_model(ctx)
        now = self._clock()
        tokens = estimate_tokens(ctx.request.text())
        ctx.prompt_tokens_estimate = tokens
        windows = self.windows(ctx, tokens, now)
        try:
            for window in windows:
                if window.name == "monthly_calls":
                    await self._seed(ctx, window, now)
            refusal = await self.limiter.acquire(windows)
        except LimiterUnavailable as exc:
            raise LimiterDown(f"{exc}; try again shortly", retry_after_s=SLOT_S) from exc
        if refusal is not None:
            name, limit = refusal.window.name, refusal.window.limit
            if name == "monthly_calls":
                raise QuotaExceeded(
                    f"monthly quota of {limit} calls for tier {ctx.tenant.tier!r} is used up",
                    retry_after_s=refusal.retry_after_s,
                )
            raise RateLimited(
                f"rate limit reached: {name} {limit} per minute",
                retry_after_s=refusal.retry_after_s,
            )
        token_windows = [w for w in windows if w.name.endswith("tpm")]
        if token_windows:
            ctx.finishers.append(lambda done: self._count_tokens(done, token_windows))
        return await call_next(ctx)

    async def _count_tokens(self, ctx: CallContext, windows: list[Window]) -> None:
        if ctx.usage is None:
            return
        extra = ctx.usage.prompt_tokens + ctx.usage.completion_tokens - ctx.prompt_tokens_estimate
        for window in windows:
            await self.limiter.add(window, extra)
