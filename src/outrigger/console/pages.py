"""The read-only pages: overview (and its refreshing figures) and pipelines."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from outrigger.console.deps import ConsoleDeps
from outrigger.console.figures import counter_total, overview
from outrigger.console.sessions import Session
from outrigger.console.web import (
    HEADERS,
    PATH,
    Refused,
    deps_of,
    render,
    require_operator,
    session_of,
)

router = APIRouter()


@router.get("/console", include_in_schema=False)
async def root() -> Response:
    return RedirectResponse(f"{PATH}/", status_code=308)


@router.get("/console/", include_in_schema=False)
async def overview_page(request: Request, session: Session = Depends(session_of)) -> Response:
    view = await overview(deps_of(request), session)
    return render(request, "overview.html", session, view=view, has_worker=_worker(request))


@router.get("/console/figures", include_in_schema=False)
async def figures(request: Request, session: Session = Depends(session_of)) -> Response:
    """The overview's figures alone: htmx refreshes them every few seconds."""
    view = await overview(deps_of(request), session)
    return render(request, "_figures.html", session, view=view, has_worker=_worker(request))


def _worker(request: Request) -> bool:
    return deps_of(request).has_worker


@router.get("/console/pipelines", include_in_schema=False)
async def pipelines_page(request: Request, session: Session = Depends(session_of)) -> Response:
    require_operator(session)
    deps = deps_of(request)
    return render(request, "pipelines.html", session, pipelines=describe_pipelines(deps))


@router.get("/console/asyncapi.json", include_in_schema=False)
async def asyncapi(request: Request, session: Session = Depends(session_of)) -> Response:
    """What this deployment consumes and publishes, as ``outrigger asyncapi`` prints it."""
    require_operator(session)
    build = deps_of(request).asyncapi
    if build is None:
        raise Refused(404, "no AsyncAPI document here")
    doc = await asyncio.to_thread(build)
    return JSONResponse(doc, headers=HEADERS)


def describe_pipelines(deps: ConsoleDeps) -> list[dict[str, Any]]:
    """What each pipeline declares, and its outcomes counted by this process's worker."""
    rows = []
    for p in deps.pipelines.pipelines:
        spec = p.spec
        outcomes = None
        if deps.has_worker:
            outcomes = {
                o: counter_total(
                    deps.metrics, "outrigger_events_processed", pipeline=p.name, outcome=o
                )
                for o in ("result", "dead_letter", "duplicate")
            }
        rows.append(
            {
                "name": p.name,
                "version": spec.version,
                "types": list(spec.on.types),
                "routing_keys": list(spec.on.routing_keys),
                "steps": [_step_kind(s) for s in spec.steps],
                "models": {s.spec.model: s.model.version for s in p.scores},
                "result_key": p.publish.spec.routing_key,
                "outcomes": outcomes,
            }
        )
    return rows


def _step_kind(step: Any) -> str:
    for kind in ("score", "llm", "embed", "publish"):
        value = getattr(step, kind, None)
        if value is not None:
            model = getattr(value, "model", None)
            return f"{kind} ({model})" if isinstance(model, str) else kind
    return "step"
