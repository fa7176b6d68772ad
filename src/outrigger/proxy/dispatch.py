"""The last link of the chain: call the alias's deployments in the balancer's order with
retries, circuit breakers and fallback; when none can answer, the configured graceful answer
(or 503).

A deployment that answers 429 cools down for its ``Retry-After`` and the call moves on to the
next one (a 429 says the deployment is busy, not broken: it does not count toward its
circuit). A deployment at its quota is skipped. When every deployment has been tried, the
call waits for the first one's 429 cool-down to end if that is soon
(``retry.max_retry_after_s``) and tries it once more; when being busy (cooling down or at
its quota) is all that stopped every deployment, it is answered 429 with ``Retry-After``.

Retries and fallback happen only before the first streamed chunk reaches the client; a
stream that breaks later ends with an error event (``StreamBroken``), never silently.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from outrigger.config.llm import LlmSettings
from outrigger.llm.base import Provider
from outrigger.llm.types import ProviderError, Usage, estimate_tokens
from outrigger.proxy.balance import Balancer
from outrigger.proxy.circuit import CircuitBreaker, State
from outrigger.proxy.context import (
    BadRequest,
    CallContext,
    Completion,
    ProxyError,
    RateLimited,
    Reply,
    Stream,
    Unavailable,
)
from outrigger.proxy.deployment_quota import DeploymentQuota
from outrigger.proxy.limits import SLOT_S, Limiter, LimiterUnavailable, MemoryLimiter
from outrigger.proxy.quota import LimiterDown
from outrigger.proxy.replies import completion_body, completion_chunks
from outrigger.proxy.routing import Router

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class StreamBroken(ProxyError):
    status, kind, code = 502, "server_error", "stream_interrupted"


class DeploymentsBusy(RateLimited):
    """Every deployment that could answer is cooling down after a 429 or at its quota."""

    code = "deployments_busy"


class UpstreamRejected(BadRequest):
    """The provider refused the request itself (4xx other than 429): retrying cannot help."""

    code = "upstream_rejected"


class Dispatcher:
    def __init__(
        self,
        settings: LlmSettings,
        providers: Mapping[str, Provider],
        on_circuit: Callable[[str, State], None] | None = None,
        sleep: Sleep = asyncio.sleep,
        limiter: Limiter | None = None,
        balancer: Balancer | None = None,
        quota: DeploymentQuota | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.router = Router(settings)
        self.providers = providers
        self.breakers = {
            name: CircuitBreaker(settings.circuit, clock, _bind(on_circuit, name))
            for name in settings.deployments
        }
        self.balancer = balancer or Balancer(settings, clock)
        self.quota = quota or DeploymentQuota(limiter or MemoryLimiter(), settings)
        self._sleep = sleep

    def any_available(self) -> bool:
        return any(b.state != "open" for b in self.breakers.values())

    async def __call__(self, ctx: CallContext) -> Reply:
        names = self.router.route(ctx)
        if ctx.request.stream:
            return Stream(self._stream(ctx, names))
        return await self._complete(ctx, names)

    def _backoff(self, attempt: int) -> float:
        retry = self.settings.retry
        ceiling = min(retry.backoff_max_s, retry.backoff_initial_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    async def _complete(self, ctx: CallContext, names: list[str]) -> Reply:
        tries = _Tries(self, ctx, names)
        async for name in tries:
            deployment = self.router.deployment(name)
            provider = self.providers[deployment.provider]
            since = self.balancer.started(name)
            try:
                body = await provider.complete(deployment, ctx.request)
            except ProviderError as exc:
                tries.failed(self._failed(name, exc))
                continue
            except BaseException:  # cancelled: says nothing about the deployment
                self.breakers[name].release()
                raise
            finally:
                self.balancer.finished(name)
            self.balancer.answered(name, since)
            self.breakers[name].success()
            _served(ctx, name, deployment.model)
            ctx.usage = Usage.from_body(body)
            await tries.settle(name)
            return Completion(body)
        return self._give_up(ctx, tries)

    async def _stream(self, ctx: CallContext, names: list[str]) -> AsyncIterator[dict[str, Any]]:
        tries = _Tries(self, ctx, names)
        async for name in tries:
            deployment = self.router.deployment(name)
            provider = self.providers[deployment.provider]
            started = False
            since = self.balancer.started(name)
            try:
                async for chunk in provider.stream(deployment, ctx.request):
                    if not started:
                        started = True
                        self.balancer.answered(name, since)
                        _served(ctx, name, deployment.model)
                    ctx.usage = Usage.from_body(chunk) or ctx.usage
                    yield chunk
            except ProviderError as exc:
                if started:
                    self.breakers[name].failure()
                    ctx.status = "error"
                    raise StreamBroken(f"the answer broke off: {exc}") from exc
                tries.failed(self._failed(name, exc))
                continue
            except BaseException:  # the client went away, or we were cancelled
                self.breakers[name].release()
                raise
            finally:
                self.balancer.finished(name)
            self.breakers[name].success()
            await tries.settle(name)
            return
        reply = self._give_up(ctx, tries)
        assert isinstance(reply, Stream)
        async for chunk in reply.chunks:
            yield chunk

    def _failed(self, name: str, exc: ProviderError) -> ProviderError:
        if not exc.retryable:
            self.breakers[name].release()
            raise UpstreamRejected(str(exc)) from exc
        if exc.kind == "rate_limited":
            self.breakers[name].release()
            wait = exc.retry_after
            self.balancer.cool(
                name, self.settings.retry.rate_limit_cooldown_s if wait is None else wait
            )
            log.info("deployment %s is rate limited; cooling down", name)
            return exc
        self.breakers[name].failure()
        log.warning("deployment %s failed (%s): %s", name, exc.kind, exc)
        return exc

    def _give_up(self, ctx: CallContext, tries: _Tries) -> Reply:
        if tries.busy_for is not None:
            ctx.status = "error"
            raise DeploymentsBusy(
                f"every deployment of {ctx.alias!r} is busy (rate limited or at its quota)",
                retry_after_s=float(max(1, math.ceil(tries.busy_for))),
            )
        return self._fallback(ctx, tries.failure)

    def _fallback(self, ctx: CallContext, failure: ProviderError | None) -> Reply:
        answer = self.settings.fallback_answer
        reason = f": {failure}" if failure else " (every circuit is open)"
        if answer is None or not ctx.fallback_answer:
            ctx.status = "error"
            raise Unavailable(f"no deployment of {ctx.alias!r} could answer{reason}")
        log.warning("answering %s with the fallback%s", ctx.alias, reason)
        ctx.status = "fallback"
        ctx.usage = Usage()
        body = completion_body(ctx.alias, answer, id_prefix="chatcmpl-fallback")
        return Stream(completion_chunks(body)) if ctx.request.stream else Completion(body)


class _Tries:
    """The deployments to call, one attempt at a time: each deployment in the balancer's
    order gets up to ``retry.attempts`` attempts (with backoff) while its circuit lets calls
    through, unless it is cooling down after a 429 or at its quota; once every one has had
    its turn, the one whose cool-down ends first gets one more attempt if that is within
    ``retry.max_retry_after_s``.

    An iterator class, not an async generator: the loop over it is left at the first
    success, and an async generator left unfinished is closed through the event loop's
    finaliser (a thread-safe wake-up and a task on every call)."""

    def __init__(self, dispatcher: Dispatcher, ctx: CallContext, names: list[str]) -> None:
        self._d = dispatcher
        self._order = dispatcher.balancer.order(ctx.alias, names, dispatcher.breakers)
        self._ctx = ctx
        self._index = 0
        self._attempt = 0
        self._waited = False
        self._quota_wait: float | None = None
        self.failure: ProviderError | None = None
        self._other_failure = False

    @property
    def busy_for(self) -> float | None:
        """Seconds until a deployment can take the call, when being busy is all that stopped
        every one of them (None: something failed, or a circuit is open)."""
        if self._other_failure:
            return None
        waits = [self._d.balancer.cooling(n) for n in self._order]
        waits = [w for w in waits if w > 0]
        if self._quota_wait is not None:
            waits.append(self._quota_wait)
        return min(waits) if waits else None

    def _tokens(self) -> int:
        ctx = self._ctx
        if not ctx.prompt_tokens_estimate:
            ctx.prompt_tokens_estimate = estimate_tokens(ctx.request.text())
        return ctx.prompt_tokens_estimate

    def failed(self, exc: ProviderError) -> None:
        self.failure = exc
        if exc.kind == "rate_limited":
            self._next_deployment()  # cooling down: the next one, not a retry here
        else:
            self._other_failure = True

    def _next_deployment(self) -> None:
        self._index += 1
        self._attempt = 0

    def __aiter__(self) -> _Tries:
        return self

    async def __anext__(self) -> str:
        while self._index < len(self._order):
            name = self._order[self._index]
            if await self._admit(name):
                self._attempt += 1
                return name
            self._next_deployment()
        late = await self._after_cool_down()
        if late is None:
            raise StopAsyncIteration
        return late

    async def _admit(self, name: str) -> bool:
        d = self._d
        if self._attempt >= d.settings.retry.attempts or d.balancer.cooling(name) > 0:
            return False
        if self._attempt:
            await d._sleep(d._backoff(self._attempt - 1))
        breaker = d.breakers[name]
        if not breaker.allow():
            self._other_failure = True
            return False
        return await self._quota_or_release(name)

    async def _quota_or_release(self, name: str) -> bool:
        """The quota for a call the breaker has let through; whatever stops it here (the
        quota, an unreachable limiter, the caller going away) gives back the breaker's
        half-open probe, which would otherwise stay taken for good."""
        try:
            return await self._take_quota(name)
        except BaseException:
            self._d.breakers[name].release()
            raise

    async def _take_quota(self, name: str) -> bool:
        if not self._d.quota.limited(name):
            return True
        try:
            refusal = await self._d.quota.take(name, self._tokens())
        except LimiterUnavailable as exc:
            self._d.breakers[name].release()
            raise LimiterDown(f"{exc}; try again shortly", retry_after_s=SLOT_S) from exc
        if refusal is None:
            return True
        self._d.breakers[name].release()
        wait = refusal.retry_after_s
        self._quota_wait = wait if self._quota_wait is None else min(self._quota_wait, wait)
        return False

    async def _after_cool_down(self) -> str | None:
        """The deployment whose 429 cool-down ends first, once, if that is soon enough."""
        d = self._d
        if self._waited:
            return None
        self._waited = True
        cooling = [(d.balancer.cooling(n), n) for n in self._order]
        cooling = [(w, n) for w, n in cooling if w > 0]
        if not cooling:
            return None
        wait, name = min(cooling)
        if wait > d.settings.retry.max_retry_after_s:
            return None
        await d._sleep(wait)
        if d.balancer.cooling(name) > 0 or not d.breakers[name].allow():
            return None
        return name if await self._quota_or_release(name) else None

    async def settle(self, name: str) -> None:
        """After a success: count the tokens the answer really used against the quota. The
        answer is the caller's already (and paid for): a counter out of reach is logged, never
        turned into an error."""
        try:
            await self._d.quota.settle(name, self._ctx.usage, self._ctx.prompt_tokens_estimate)
        except LimiterUnavailable as exc:
            log.warning("deployment %s: its token quota could not be counted: %s", name, exc)


def _bind(
    on_circuit: Callable[[str, State], None] | None, name: str
) -> Callable[[State], None] | None:
    if on_circuit is None:
        return None
    return partial(on_circuit, name)


def _served(ctx: CallContext, name: str, model: str) -> None:
    ctx.deployment = name
    ctx.model = model
