"""Mount the console on the gateway's app: its routers, its static files and the two
exceptions its pages raise (sign in first; refused)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from outrigger.console import audit, letters, models, pages, signin, tenants, usage
from outrigger.console.deps import HERE, ConsoleDeps
from outrigger.console.web import HEADERS, PATH, Refused, SignInNeeded, render, session_of


def mount(app: FastAPI, deps: ConsoleDeps) -> None:
    app.state.console = deps
    for module in (signin, pages, tenants, usage, letters, models, audit):
        app.include_router(module.router)
    app.mount(f"{PATH}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(SignInNeeded, _sign_in_first)
    app.add_exception_handler(Refused, _refused)


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    response: Response
    if request.headers.get("hx-request") == "true":
        # htmx follows this header with a full page load (not a swap into the page).
        response = Response(status_code=401, headers={"HX-Redirect": f"{PATH}/sign-in"})
    else:
        response = RedirectResponse(f"{PATH}/sign-in", status_code=303)
    response.headers.update(HEADERS)
    return response


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    try:
        session = await session_of(request)
    except SignInNeeded:
        session = None
    return render(request, "error.html", session, exc.status, message=exc.message)
