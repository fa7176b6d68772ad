"""Sign-in with an API key, sign-out.

The key is checked by the proxy's authenticator, so failed attempts are throttled exactly as
on the API (per client address and key prefix, shared across replicas through Redis). The
sign-in form has no session yet, so its CSRF token is a double-submit cookie."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from outrigger.console.sessions import CONSOLE_ROLES
from outrigger.console.web import (
    COOKIE,
    CSRF_FIELD,
    HEADERS,
    PATH,
    PRE_COOKIE,
    check_csrf,
    deps_of,
    form_of,
    render,
    secure,
    session_of,
)
from outrigger.proxy.context import ProxyError

router = APIRouter()


def _sign_in_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "sign_in.html", None, status, pre_token=token, error=error)
    response.set_cookie(
        PRE_COOKIE, token, path=PATH, httponly=True, samesite="strict", secure=secure(request)
    )
    return response


@router.get("/console/sign-in", include_in_schema=False)
async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request)


@router.post("/console/sign-in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    form = await form_of(request)
    sent, expected = form.get(CSRF_FIELD, ""), request.cookies.get(PRE_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _sign_in_page(request, "the form expired or came from elsewhere; try again", 403)
    deps = deps_of(request)
    client = request.client.host if request.client else None
    try:
        tenant = await deps.proxy.auth.tenant(f"Bearer {form.get('key', '').strip()}", client)
    except ProxyError as exc:  # 401 bad key, 429 too many failures, 503 limiter down
        return _sign_in_page(request, str(exc), exc.status)
    if not CONSOLE_ROLES & tenant.roles or tenant.key_id is None:
        return _sign_in_page(request, "this key has none of the roles admin, auditor, viewer", 403)
    token = await deps.proxy.db.run(deps.sessions.open, tenant.key_id)
    response = RedirectResponse(f"{PATH}/", status_code=303)
    response.headers.update(HEADERS)
    response.set_cookie(
        COOKIE, token, max_age=int(deps.settings.console.session_ttl_s), path=PATH,
        httponly=True, samesite="strict", secure=secure(request),
    )  # fmt: skip
    response.delete_cookie(PRE_COOKIE, path=PATH)
    return response


@router.post("/console/sign-out", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    session = await session_of(request)
    check_csrf(request, session, await form_of(request))
    deps = deps_of(request)
    await deps.proxy.db.run(deps.sessions.close, session.token)
    response = RedirectResponse(f"{PATH}/sign-in", status_code=303)
    response.headers.update(HEADERS)
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")
    return response
