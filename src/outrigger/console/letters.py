"""Dead letters: browse with the reason and a preview, replay one or all (to Outrigger's
own queue, as ``outrigger dlq replay`` does)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from outrigger.bus.base import DeadLetter
from outrigger.console.deps import ConsoleDeps, LetterAccess
from outrigger.console.sessions import Session
from outrigger.console.tenants import audited
from outrigger.console.web import Refused, changing, deps_of, render, require_operator, session_of
from outrigger.storage.audit import DEPLOYMENT

router = APIRouter()
LIMIT = 200
PREVIEW = 300


def preview(letter: DeadLetter) -> str:
    body = letter.message.body
    text = body[:PREVIEW].decode("utf-8", errors="replace")
    return text + ("…" if len(body) > PREVIEW else "")


def _access(deps: ConsoleDeps) -> LetterAccess:
    if deps.letters is None:
        raise Refused(404, "this gateway has no bus to read dead letters from")
    return deps.letters


async def _page(
    request: Request, session: Session, status: int = 200, message: str | None = None
) -> Response:
    letters = _access(deps_of(request))
    async with letters.open() as dlq:
        found, total = await dlq.list(LIMIT), await dlq.count()
    return render(request, "letters.html", session, status, letters=found, total=total,
                  preview=preview, message=message)  # fmt: skip


@router.get("/console/dead-letters", include_in_schema=False)
async def letters_page(request: Request, session: Session = Depends(session_of)) -> Response:
    require_operator(session)
    return await _page(request, session)


@router.post("/console/dead-letters/replay", include_in_schema=False)
async def replay(request: Request, session: Session = Depends(session_of)) -> Response:
    """Replay the letter named by ``id``, or every letter when ``all`` is sent."""
    form = await changing(request, session)
    require_operator(session)
    deps = deps_of(request)
    letters = _access(deps)
    ids = None if form.get("all") else [form.get("id", "")]
    if ids is not None and not ids[0]:
        raise Refused(400, "name a dead letter to replay, or replay all")
    async with letters.open() as dlq:
        count = await dlq.replay(letters.target, ids)
    if ids is not None and count == 0:
        raise Refused(404, f"no dead letter {ids[0]} (already replayed?)")
    detail = {"ids": ids if ids is not None else "all", "replayed": count}
    await audited(deps, session, DEPLOYMENT, "dlq.replay", detail)
    return await _page(request, session, message=f"replayed {count} dead letter(s)")
