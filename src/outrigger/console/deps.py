"""What the console reads and changes, built once by the composition root and passed in."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from outrigger.bus.base import DeadLetterQueue, Subscription
from outrigger.config.settings import Settings
from outrigger.console.sessions import SessionStore
from outrigger.engine.pipeline import PipelineSet
from outrigger.optional import require
from outrigger.proxy.service import LlmProxy
from outrigger.registry.registry import Registry
from outrigger.storage.ledger import LedgerReports
from outrigger.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent


@dataclass(frozen=True)
class LetterAccess:
    """The dead-letter queue: ``open()`` gives it for one request (the worker's own when
    it runs in this process; a bus opened for the request otherwise), ``target`` is the
    queue replays go to (Outrigger's, never the domain exchange)."""

    open: Callable[[], AbstractAsyncContextManager[DeadLetterQueue]]
    target: Subscription


class RateMeter:
    """Events per second over the last minute, from the samples of a counter the console
    took when its overview was shown (one meter per process, owned by ``ConsoleDeps``)."""

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, float]] = deque(maxlen=256)

    def rate(self, total: float) -> float | None:
        now = self._clock()
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        first_t, first_total = self._samples[0]
        if now - first_t < 0.5:
            return None  # one sample: no rate yet
        return max(0.0, (total - first_total) / (now - first_t))


@dataclass
class ConsoleDeps:
    settings: Settings
    proxy: LlmProxy
    sessions: SessionStore
    templates: Jinja2Templates
    pipelines: PipelineSet
    metrics: Metrics
    registry: Registry | None = None
    letters: LetterAccess | None = None
    #: The metrics include a worker's (``outrigger run`` with the gateway, the demo);
    #: ``outrigger gateway`` alone has no events to count.
    has_worker: bool = False
    #: The AsyncAPI document of this deployment (``outrigger asyncapi``), built on demand.
    asyncapi: Callable[[], dict[str, Any]] | None = None
    reports: LedgerReports = field(init=False)
    events: RateMeter = field(default_factory=RateMeter)

    def __post_init__(self) -> None:
        self.reports = LedgerReports(self.proxy.db)


def build_console(
    settings: Settings,
    proxy: LlmProxy,
    pipelines: PipelineSet,
    metrics: Metrics,
    *,
    registry: Registry | None = None,
    letters: LetterAccess | None = None,
    has_worker: bool = False,
    asyncapi: Callable[[], dict[str, Any]] | None = None,
) -> ConsoleDeps:
    """The console's dependencies (Jinja2 comes with the ``gateway`` extra)."""
    require("jinja2", "gateway")
    from fastapi.templating import Jinja2Templates

    from outrigger.console.render import install_filters

    templates = Jinja2Templates(directory=str(HERE / "templates"))
    install_filters(templates.env)
    cfg = settings.console
    sessions = SessionStore(proxy.db, cfg.session_ttl_s, cfg.idle_timeout_s, cfg.operator_tenant)
    return ConsoleDeps(
        settings, proxy, sessions, templates, pipelines, metrics, registry, letters, has_worker,
        asyncapi,
    )  # fmt: skip
