"""Load balancing over the deployments of one alias, and what it learns from each call.

``order`` puts an alias's deployments (already filtered by the tenant's region) in the
order to try them: the alias's strategy first (``config.llm.Strategy``), then deployments
whose circuit is open moved to the back (a half-open one keeps its place, so it is probed).
The dispatcher skips a deployment cooling down after a 429 (``cooling``) or at its quota.

Counts are per process: ``least_inflight`` and ``latency`` see this replica's calls, which is
what they need (each replica spreads its own load); quotas are shared (``DeploymentQuota``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from outrigger.config.llm import LlmSettings
from outrigger.proxy.circuit import CircuitBreaker

#: Weight of the newest call in the moving average of a deployment's latency.
LATENCY_ALPHA = 0.3


@dataclass
class DeploymentLoad:
    inflight: int = 0
    #: Moving average of seconds to the answer (to the first chunk of a stream); None: untried.
    latency_s: float | None = None
    cool_until: float = 0.0


class Balancer:
    def __init__(
        self,
        settings: LlmSettings,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self.loads = {name: DeploymentLoad() for name in settings.deployments}

    def order(
        self, alias: str, names: list[str], breakers: Mapping[str, CircuitBreaker]
    ) -> list[str]:
        strategy = self.settings.balancing.get(alias, "ordered")
        if strategy == "weighted":
            ranked = self._weighted(names)
        elif strategy == "least_inflight":
            ranked = self._by(names, lambda n: self.loads[n].inflight)
        elif strategy == "latency":
            ranked = self._by(names, lambda n: self.loads[n].latency_s or 0.0)
        else:
            ranked = list(names)
        return sorted(ranked, key=lambda n: breakers[n].state == "open")  # stable

    def _weighted(self, names: list[str]) -> list[str]:
        """A random order where each deployment comes first in proportion to its weight
        (Efraimidis-Spirakis: sort by u ** (1 / w))."""
        weight = {n: self.settings.deployments[n].weight for n in names}
        keys = {n: self._rng.random() ** (1.0 / weight[n]) for n in names}
        return sorted(names, key=keys.__getitem__, reverse=True)

    def _by(self, names: list[str], measure: Callable[[str], float]) -> list[str]:
        """Lowest ``measure`` first; ties in random order, so equals share the load."""
        ties = {n: self._rng.random() for n in names}
        return sorted(names, key=lambda n: (measure(n), ties[n]))

    def started(self, name: str) -> float:
        self.loads[name].inflight += 1
        return self._clock()

    def answered(self, name: str, since: float) -> None:
        """The deployment's first answer (or first chunk) arrived ``since`` -> now."""
        load = self.loads[name]
        took = self._clock() - since
        previous = load.latency_s
        load.latency_s = took if previous is None else previous + LATENCY_ALPHA * (took - previous)

    def finished(self, name: str) -> None:
        self.loads[name].inflight -= 1

    def cool(self, name: str, seconds: float) -> None:
        load = self.loads[name]
        load.cool_until = max(load.cool_until, self._clock() + seconds)

    def cooling(self, name: str) -> float:
        """Seconds until the deployment may be called again after a 429 (0: now)."""
        return max(0.0, self.loads[name].cool_until - self._clock())
