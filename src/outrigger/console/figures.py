"""The overview's figures: what each number comes from is said beside it (docs/console.md).

Spend, calls and the cache hit rate come from the ledger (the database every replica
writes), so they cover the whole deployment; events, results and circuit states come from
this process's metrics, so they are shown only when a worker runs in it (events) and for
the deployments this gateway calls (circuits)."""

from __future__ import annotations

import calendar
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from outrigger.console.deps import ConsoleDeps
from outrigger.console.sessions import Session
from outrigger.storage.ledger import Totals

log = logging.getLogger("outrigger.console")
CIRCUIT = {0.0: "closed", 1.0: "half-open", 2.0: "open"}


@dataclass
class Overview:
    scope: str
    today: Totals
    month: Totals
    events_per_s: float | None = None
    results: float | None = None
    processed_dead: float | None = None
    dead_letters: int | None = None
    dead_letters_note: str = ""
    circuits: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float | None:
        return self.month.cache_hits / self.month.calls if self.month.calls else None


def day_start(now: float) -> float:
    return now - now % 86_400


def month_start(now: float) -> float:
    t = time.gmtime(now)
    return float(calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0)))


def counter_total(metrics: Any, name: str, **labels: str) -> float:
    """The sum of a counter's samples whose labels include ``labels``."""
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == f"{name}_total" and labels.items() <= sample.labels.items():
                total += sample.value
    return total


async def overview(deps: ConsoleDeps, session: Session) -> Overview:
    now = time.time()
    tenant = None if session.operator else session.tenant_id
    db, reports = deps.proxy.db, deps.reports
    today = await db.run(reports.totals, day_start(now), now + 1, tenant)
    month = await db.run(reports.totals, month_start(now), now + 1, tenant)
    view = Overview(tenant or "every tenant", today, month)
    if not session.operator:
        return view
    metrics = deps.metrics
    if deps.has_worker:
        processed = counter_total(metrics, "outrigger_events_processed")
        view.events_per_s = deps.events.rate(processed)
        view.results = counter_total(metrics, "outrigger_events_processed", outcome="result")
        view.processed_dead = counter_total(
            metrics, "outrigger_events_processed", outcome="dead_letter"
        )
    view.dead_letters, view.dead_letters_note = await dead_letter_count(deps)
    for name in deps.settings.llm.deployments:
        value = deps.proxy.metrics.registry.get_sample_value(
            "outrigger_llm_circuit_state", {"deployment": name}
        )
        view.circuits[name] = CIRCUIT.get(value or 0.0, "closed")
    view.models = deps.pipelines.models()
    return view


async def dead_letter_count(deps: ConsoleDeps) -> tuple[int | None, str]:
    if deps.letters is None:
        return None, "no bus configured for this gateway"
    try:
        async with deps.letters.open() as dlq:
            return await dlq.count(), ""
    except Exception as exc:  # the page still shows everything else
        log.warning("console: dead-letter queue unreachable: %r", exc)
        return None, f"the bus cannot be reached ({type(exc).__name__})"
