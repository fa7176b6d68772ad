"""A deployment's own quota at its provider (``rpm``/``tpm`` in its settings), counted in the
same limiter as the tenants' limits, so every gateway replica sharing ``tenancy.redis_url``
shares it: the provider never sees more than the quota from all of them together.

Each attempt takes one request and the prompt's estimated tokens before it is sent; when the
answer's usage is known the difference is counted. A deployment at its quota is skipped for
the next one, never called to get a 429.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from outrigger.config.llm import LlmSettings
from outrigger.llm.types import Usage
from outrigger.proxy.limits import Limiter, Refusal, Window, sliding_minute


class DeploymentQuota:
    def __init__(
        self, limiter: Limiter, settings: LlmSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self.limiter = limiter
        self.settings = settings
        self._clock = clock

    def windows(self, name: str, tokens: int) -> list[Window]:
        deployment = self.settings.deployments[name]
        base = f"or:{{dep:{name}}}"  # hash tag: one Redis Cluster slot per deployment
        now = self._clock()
        windows = []
        if deployment.rpm is not None:
            windows.append(sliding_minute(f"{base}:rpm", "deployment_rpm", deployment.rpm, 1, now))
        if deployment.tpm is not None:
            windows.append(
                sliding_minute(f"{base}:tpm", "deployment_tpm", deployment.tpm, tokens, now)
            )
        return windows

    def limited(self, name: str) -> bool:
        deployment = self.settings.deployments[name]
        return deployment.rpm is not None or deployment.tpm is not None

    async def take(self, name: str, tokens: int) -> Refusal | None:
        """One request and ``tokens`` from the deployment's windows, or a refusal saying how
        long until they fit. Raises ``LimiterUnavailable`` when the counters are out of reach."""
        if not self.limited(name):
            return None
        return await self.limiter.acquire(self.windows(name, tokens))

    async def settle(self, name: str, usage: Usage | None, estimated: int) -> None:
        """Count the tokens the answer really used beyond the estimate taken before it."""
        if usage is None or self.settings.deployments[name].tpm is None:
            return
        extra = usage.prompt_tokens + usage.completion_tokens - estimated
        for window in self.windows(name, 0):
            if window.name == "deployment_tpm":
                await self.limiter.add(window, extra)
