"""Usage and spend per tenant, feature and model over time, from the cost ledger."""

from __future__ import annotations

import calendar
import time
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from outrigger.console.figures import day_start
from outrigger.console.sessions import Session
from outrigger.console.web import Refused, deps_of, render, session_of
from outrigger.storage.ledger import DayLine

router = APIRouter()
DIMENSIONS = {"tenant": "tenant_id", "feature": "feature", "alias": "alias",
              "deployment": "deployment"}  # fmt: skip
MAX_SERIES = 8  # the largest by spend; the rest are summed as "other"


@router.get("/console/usage", include_in_schema=False)
async def usage_page(
    request: Request,
    session: Session = Depends(session_of),
    days: int = Query(30, ge=1, le=366),
    by: str = Query("tenant"),
    tenant: str | None = Query(None, max_length=64),
) -> Response:
    if by not in DIMENSIONS:
        raise Refused(400, f"group by one of {', '.join(DIMENSIONS)}")
    if tenant is not None and not session.sees(tenant):
        raise Refused(403, "a key of this tenant sees only its own usage")
    scope = tenant if tenant is not None or session.operator else session.tenant_id
    deps = deps_of(request)
    now = time.time()
    since = day_start(now) - (days - 1) * 86_400
    lines = await deps.proxy.db.run(deps.reports.daily, since, now + 1, scope)
    labels = [time.strftime("%Y-%m-%d", time.gmtime(since + i * 86_400)) for i in range(days)]
    charts: dict[str, Any] = {
        f"{m}_chart": chart(lines, labels, by, m) for m in ("cost_usd", "calls")
    }
    return render(
        request, "usage.html", session, lines=_totals(lines), by=by, days=days, tenant=scope,
        total_cost=sum(x.cost_usd for x in lines), total_calls=sum(x.calls for x in lines),
        status=200, **charts,
    )  # fmt: skip


def chart(lines: list[DayLine], labels: list[str], by: str, measure: str) -> dict[str, Any]:
    """uPlot's data: x as Unix times of each day, one series per value of ``by``."""
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line in lines:
        per[str(getattr(line, DIMENSIONS[by]) or "none")][line.day] += getattr(line, measure)
    ranked = sorted(per, key=lambda k: -sum(per[k].values()))
    keep, rest = ranked[:MAX_SERIES], ranked[MAX_SERIES:]
    if rest:
        other: dict[str, float] = defaultdict(float)
        for name in rest:
            for day, value in per[name].items():
                other[day] += value
        per["other"] = other
        keep.append("other")
    return {
        "x": [calendar.timegm(time.strptime(d, "%Y-%m-%d")) for d in labels],
        "series": [
            {"label": name, "values": [round(per[name].get(d, 0.0), 6) for d in labels]}
            for name in keep
        ],
        "measure": measure,
    }


def _totals(lines: list[DayLine]) -> list[dict[str, Any]]:
    """Totals of the period per tenant, feature and alias, largest spend first."""
    sums: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0])
    for x in lines:
        row = sums[(x.tenant_id, x.feature, x.alias)]
        row[0] += x.calls
        row[1] += x.tokens_in
        row[2] += x.tokens_out
        row[3] += x.cost_usd
        row[4] += x.cache_hits
    out = [
        {
            "tenant": t,
            "feature": f,
            "alias": a,
            "calls": int(v[0]),
            "tokens_in": int(v[1]),
            "tokens_out": int(v[2]),
            "cost_usd": v[3],
            "cache_hits": int(v[4]),
        }
        for (t, f, a), v in sums.items()
    ]
    return sorted(out, key=lambda r: -r["cost_usd"])
