"""The last link of the chain: call the deployments in order with retries, circuit breakers
and fallback; when none can answer, the configured graceful answer (or 503).

Retries and fallback happen only before the first streamed chunk reaches the client; a
stream that breaks later ends with an error event (``StreamBroken``), never silently.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from outrigger.config.llm import LlmSettings
from outrigger.llm.base import Provider
from outrigger.llm.types import ProviderError, Usage
from outrigger.proxy.circuit import CircuitBreaker, State
from outrigger.proxy.context import (
    BadRequest,
    CallContext,
    Completion,
    ProxyError,
    Reply,
    Stream,
    Unavailable,
)
from outrigger.proxy.replies import completion_body, completion_chunks
from outrigger.proxy.routing import Router

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class StreamBroken(ProxyError):
    status, kind, code = 502, "server_error", "stream_interrupted"


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
    ) -> None:
        self.settings = settings
        self.router = Router(settings)
        self.providers = providers
        self.breakers = {
            name: CircuitBreaker(settings.circuit, on_change=_bind(on_circuit, name))
            for name in settings.deployments
        }
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

    def _attempts(self, name: str) -> _Attempts:
        """Attempt numbers for one deployment while its circuit lets calls through."""
        return _Attempts(self, name)

    async def _complete(self, ctx: CallContext, names: list[str]) -> Reply:
        failure: ProviderError | None = None
        for name in names:
            deployment = self.router.deployment(name)
            provider = self.providers[deployment.provider]
            async for _ in self._attempts(name):
                try:
                    body = await provider.complete(deployment, ctx.request)
                except ProviderError as exc:
                    failure = self._failed(name, exc)
                    continue
                except BaseException:  # cancelled: says nothing about the deployment
                    self.breakers[name].release()
                    raise
                self.breakers[name].success()
                _served(ctx, name, deployment.model)
                ctx.usage = Usage.from_body(body)
                return Completion(body)
        return self._fallback(ctx, failure)

    async def _stream(self, ctx: CallContext, names: list[str]) -> AsyncIterator[dict[str, Any]]:
        failure: ProviderError | None = None
        for name in names:
            deployment = self.router.deployment(name)
            provider = self.providers[deployment.provider]
            async for _ in self._attempts(name):
                started = False
                try:
                    async for chunk in provider.stream(deployment, ctx.request):
                        if not started:
                            started = True
                            _served(ctx, name, deployment.model)
                        ctx.usage = Usage.from_body(chunk) or ctx.usage
                        yield chunk
                except ProviderError as exc:
                    failure = self._failed(name, exc)
                    if started:
                        ctx.status = "error"
                        raise StreamBroken(f"the answer broke off: {exc}") from exc
                    continue
                except BaseException:  # the client went away, or we were cancelled
                    self.breakers[name].release()
                    raise
                self.breakers[name].success()
                return
        reply = self._fallback(ctx, failure)
        assert isinstance(reply, Stream)
        async for chunk in reply.chunks:
            yield chunk

    def _failed(self, name: str, exc: ProviderError) -> ProviderError:
        if not exc.retryable:
            self.breakers[name].release()
            raise UpstreamRejected(str(exc)) from exc
        self.breakers[name].failure()
        log.warning("deployment %s failed (%s): %s", name, exc.kind, exc)
        return exc

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


class _Attempts:
    """``Dispatcher._attempts`` as an iterator class, not an async generator: the loop over it
    is left at the first success, and an async generator left unfinished is closed through the
    event loop's finaliser (a thread-safe wake-up and a task on every call)."""

    def __init__(self, dispatcher: Dispatcher, name: str) -> None:
        self._dispatcher = dispatcher
        self._name = name
        self._next = 0

    def __aiter__(self) -> _Attempts:
        return self

    async def __anext__(self) -> int:
        attempt, dispatcher = self._next, self._dispatcher
        if attempt >= dispatcher.settings.retry.attempts:
            raise StopAsyncIteration
        if attempt:
            await dispatcher._sleep(dispatcher._backoff(attempt - 1))
        if not dispatcher.breakers[self._name].allow():
            raise StopAsyncIteration
        self._next = attempt + 1
        return attempt


def _bind(
    on_circuit: Callable[[str, State], None] | None, name: str
) -> Callable[[State], None] | None:
    if on_circuit is None:
        return None
    return partial(on_circuit, name)


def _served(ctx: CallContext, name: str, model: str) -> None:
    ctx.deployment = name
    ctx.model = model
