"""What every console route shares: the session from its cookie, the CSRF check, the form,
role checks and rendering with the console's security headers."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from outrigger.console.sessions import Session

if TYPE_CHECKING:
    from outrigger.console.deps import ConsoleDeps

COOKIE = "outrigger_console"
#: The sign-in form's double-submit token (no session yet to derive one from).
PRE_COOKIE = "outrigger_console_pre"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PATH = "/console"
HEADERS = {
    # Every script and style is served from /console/static; the chart data travel as
    # JSON in non-executed <script type="application/json"> elements.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SignInNeeded(Exception):
    """No live session: the browser is sent to the sign-in page."""


class Refused(Exception):
    """The request is refused (403 role or CSRF, 400 bad form, 404 ...): shown as a page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def deps_of(request: Request) -> ConsoleDeps:
    deps: ConsoleDeps = request.app.state.console
    return deps


async def session_of(request: Request) -> Session:
    """The request's live session (a FastAPI dependency of every signed-in page)."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInNeeded
    deps = deps_of(request)
    session = await deps.proxy.db.run(deps.sessions.get, token)
    if session is None:
        raise SignInNeeded
    return session


async def form_of(request: Request) -> dict[str, str]:
    """The URL-encoded form (the console sends no files): the first value of each field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def check_csrf(request: Request, session: Session, form: dict[str, str]) -> None:
    """Every POST carries the session's token: in the form, or (htmx) in a header."""
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise Refused(403, "the form's CSRF token is missing or wrong; reload the page")


async def changing(request: Request, session: Session, role: str = "admin") -> dict[str, str]:
    """The form of a change, once its CSRF token and the session's role are checked."""
    form = await form_of(request)
    check_csrf(request, session, form)
    require_role(session, role)
    return form


def require_role(session: Session, role: str) -> None:
    if not session.can(role):
        raise Refused(403, f"this needs a key with the '{role}' role")


def require_operator(session: Session) -> None:
    if not session.operator:
        raise Refused(403, "this page is for keys of the operator tenant (console.operator_tenant)")


def secure(request: Request) -> bool:
    configured = deps_of(request).settings.console.secure_cookie
    return configured if configured is not None else request.url.scheme == "https"


def render(
    request: Request,
    template: str,
    session: Session | None,
    status: int = 200,
    **context: Any,
) -> Response:
    deps = deps_of(request)
    response: HTMLResponse = deps.templates.TemplateResponse(
        request,
        template,
        {
            "session": session,
            "csrf": session.csrf if session else "",
            "page": template,
            "htmx": request.headers.get("hx-request") == "true",
            **context,
        },
        status_code=status,
    )
    response.headers.update(HEADERS)
    return response
