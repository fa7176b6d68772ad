"""Request bodies read by hand: pydantic-core parses and validates the bytes in one pass.

A FastAPI body parameter costs a JSON decode into dicts, a second pass to validate them and
per-request dependency solving; on the chat hot path that is most of the framework's cost.
When the fast path fails the body is read again the way FastAPI reads it, so a bad request
gets exactly the ``RequestValidationError`` (and 400) it got before.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_body(raw: bytes, content_type: str | None, model: type[M]) -> M:
    """``raw`` as a ``model``, or a ``RequestValidationError`` located under ``body``."""
    is_json = _is_json(content_type)
    if raw and is_json:
        try:
            return model.model_validate_json(raw)
        except ValidationError:
            pass  # read it again below for FastAPI's error shapes
    if not raw:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing], body=None)
    body: Any = raw  # not JSON (FastAPI's strict content type): bytes, which are no object
    if is_json:
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            error = {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
            raise RequestValidationError([error], body=exc.doc) from exc
    try:
        return model.model_validate(body, from_attributes=True)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=body) from exc


def _is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json``, parameters ignored (as FastAPI)."""
    if not content_type:
        return False
    kind = content_type.partition(";")[0].strip().lower()
    maintype, _, subtype = kind.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def openapi_body(model: type[BaseModel], headers: dict[str, str]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads ``model`` and ``headers`` by hand: the body's
    JSON Schema (definitions inlined) and the optional headers with their descriptions."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    header = {"in": "header", "required": False, "schema": {"type": "string"}}
    return {
        "parameters": [{"name": n, "description": d, **header} for n, d in headers.items()],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}},
        },
    }
