"""Errors in OpenAI's body shape: ``{"error": {"message", "type", "param", "code"}}``.

A request the client got wrong is a 4xx with a message, never a 500: bodies are parsed with
those errors in mind (gateway/body.py), and the handlers here catch what a framework path
still lets through (FastAPI's own body parameters, a client that hangs up mid-body).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect


def error_body(
    message: str, kind: str, param: str | None = None, code: str | None = None
) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = (
            exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        )
        if first.get("type") == "json_invalid":  # its loc is a character position, no param
            detail = first.get("ctx", {}).get("error")
            message = f"request body: {first['msg']}" + (f" ({detail})" if detail else "")
            return JSONResponse(error_body(message, "invalid_request_error"), status_code=400)
        param = ".".join(str(p) for p in first["loc"] if p != "body") or None
        return JSONResponse(
            error_body(f"{param or 'request'}: {first['msg']}", "invalid_request_error", param),
            status_code=400,
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        message = str(exc.detail)
        reason = unreadable_body(exc.__cause__) if exc.status_code == 400 else None
        if reason is not None:
            message = f"{message}: {reason}"
        return JSONResponse(error_body(message, kind), status_code=exc.status_code)

    @app.exception_handler(ClientDisconnect)
    async def gone(_: Request, __: ClientDisconnect) -> JSONResponse:
        # Nobody reads this answer; it keeps a client that hung up mid-body out of the 5xx.
        return JSONResponse(error_body("client disconnected", "invalid_request_error"), 400)


def unreadable_body(cause: BaseException | None) -> str | None:
    """Why a body could not be decoded (FastAPI wraps the decoder's exception in a bare 400
    "There was an error parsing the body"), in words a client can act on; None for a cause
    that is no decoding error."""
    if isinstance(cause, UnicodeError):
        return "the body is not valid UTF-8"
    if isinstance(cause, RecursionError):
        return "the JSON is nested too deeply"
    if isinstance(cause, ValueError):  # e.g. an integer of more than 4,300 digits
        return f"the body is not valid JSON ({str(cause).partition(';')[0]})"
    return None
