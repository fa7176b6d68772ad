"""The OpenAPI document as the gateway answers: OpenAI's error shape, 400 (never FastAPI's 422)
for an invalid request, and each route's other error statuses.

Routes declare what only they know (``responses=error_responses(401, 429)``: they check a
key, they count calls); what follows from the transport is added to every operation here: 400
where there is anything to get wrong, 413 where there is a body, 404 where the path names
something.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

REF = "#/components/schemas/{model}"

DESCRIPTIONS: dict[int, str] = {
    400: "Invalid request: body, parameter or header (or content the guard blocked)",
    401: "Missing, unknown, revoked or expired API key",
    403: "Not allowed: the tenant's tier is not configured, the key lacks the role, or the "
    "key may not use that model",
    404: "No such model",
    413: "Request body over llm.max_request_bytes",
    429: "Rate limit, monthly quota or budget reached, every deployment busy, or too many "
    "failed sign-ins (see Retry-After)",
    502: "The upstream broke off, or the guard withheld the answer",
    503: "No deployment can answer and no fallback answer is configured, or the limit "
    "counters cannot be reached (see Retry-After)",
}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error body."""

    error: ErrorDetail


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can answer ``codes`` (OpenAI's error shape)."""
    return {code: {"description": DESCRIPTIONS[code], "model": ErrorResponse} for code in codes}


def install(app: FastAPI) -> None:
    """Serve the corrected document at ``/openapi.json`` (built once, on first request)."""

    generate = app.openapi  # FastAPI's own, which caches its document in openapi_schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = corrected(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point


def corrected(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    model = ErrorResponse.model_json_schema(ref_template=REF)
    schemas.update(model.pop("$defs", {}))
    schemas[ErrorResponse.__name__] = model
    for item in document.get("paths", {}).values():
        for operation in item.values():
            _statuses(operation)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)  # only the 422s referred to them
    return document


def _statuses(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    params = operation.get("parameters", [])
    wanted = []
    if params or "requestBody" in operation:
        wanted.append(400)
    if "requestBody" in operation:
        wanted.append(413)
    if any(p.get("in") == "path" for p in params):
        wanted.append(404)
    error = {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}}
    for code in wanted:
        responses.setdefault(str(code), {"description": DESCRIPTIONS[code], "content": error})
