"""The model registry: versions, aliases with their history, the evaluation gate's last
results, the versions the loaded pipelines use; promote (behind the gate) and roll back."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from outrigger.console.sessions import Session
from outrigger.console.tenants import audited
from outrigger.console.web import Refused, changing, deps_of, render, require_operator, session_of
from outrigger.registry.gate import gate_figures, promote
from outrigger.registry.registry import Registry, RegistryError
from outrigger.storage.audit import DEPLOYMENT

router = APIRouter()


def _registry(request: Request) -> Registry:
    registry = deps_of(request).registry
    if registry is None:
        raise Refused(404, "this gateway has no model registry")
    return registry


def describe(registry: Registry) -> list[dict[str, Any]]:
    """Each model: versions (with their aliases), alias histories, the last gate results."""
    models = []
    for name in registry.names():
        aliases = registry.aliases(name)
        log = registry.log(name)
        models.append(
            {
                "name": name,
                "versions": [
                    {
                        "version": v,
                        "sha256": registry.get(name, v).sha256[:16],
                        "aliases": [a for a, h in aliases.items() if h and h[-1] == v],
                    }
                    for v in reversed(registry.versions(name))
                ],
                "aliases": aliases,
                "gates": [e for e in log if e.get("action") in ("promote", "rollback")][-5:][::-1],
            }
        )
    return models


async def _page(request: Request, session: Session, message: str | None = None) -> Response:
    deps = deps_of(request)
    models = await asyncio.to_thread(describe, _registry(request))
    return render(request, "models.html", session, models=models, message=message,
                  in_use=deps.pipelines.models())  # fmt: skip


@router.get("/console/models", include_in_schema=False)
async def models_page(request: Request, session: Session = Depends(session_of)) -> Response:
    require_operator(session)
    return await _page(request, session)


@router.post("/console/models/{name}/promote", include_in_schema=False)
async def promote_version(
    name: str, request: Request, session: Session = Depends(session_of)
) -> Response:
    form = await changing(request, session)
    require_operator(session)
    registry = _registry(request)
    version, alias, force = form.get("version", ""), form.get("alias") or "stable", "force" in form
    try:  # the gate scores both versions with ONNX Runtime: off the event loop
        result = await asyncio.to_thread(promote, registry, name, version, alias, force=force)
    except RegistryError as exc:
        raise Refused(409, str(exc)) from exc
    detail = {"model": name, "version": version, "alias": alias, "forced": force,
              "gate": gate_figures(result)}  # fmt: skip
    await audited(deps_of(request), session, DEPLOYMENT, "model.promote", detail)
    verdict = result.describe() if result else "gate skipped (forced)"
    return await _page(request, session, f"{name}:{alias} -> {version}; {verdict}")


@router.post("/console/models/{name}/rollback", include_in_schema=False)
async def rollback(name: str, request: Request, session: Session = Depends(session_of)) -> Response:
    form = await changing(request, session)
    require_operator(session)
    registry, alias = _registry(request), form.get("alias") or "stable"
    try:
        before, after = await asyncio.to_thread(registry.rollback, name, alias)
    except RegistryError as exc:
        raise Refused(409, str(exc)) from exc
    detail = {"model": name, "alias": alias, "from": before, "to": after}
    await audited(deps_of(request), session, DEPLOYMENT, "model.rollback", detail)
    return await _page(request, session, f"{name}:{alias} rolled back {before} -> {after}")
