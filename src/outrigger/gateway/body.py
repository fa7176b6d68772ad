"""Request bodies read by hand: pydantic-core parses and validates the bytes in one pass.

A FastAPI body parameter costs a JSON decode into dicts, a second pass to validate them and
per-request dependency solving; on the chat hot path that is most of the framework's cost.
When the fast path fails the body is read again the way FastAPI reads it, so a bad request
gets exactly the ``RequestValidationError`` (and 400) it got before — except for bytes the
fast path's parser refused and ``json`` would choke on or let through (invalid UTF-8, an
integer of more than 4,300 digits, nesting deeper than the interpreter's stack, a lone
surrogate escape): those are a 400 naming what is wrong, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

#: Bodies larger than this are parsed on a worker thread: parsing a megabyte of deeply nested
#: JSON takes tens of milliseconds the event loop would otherwise not serve anyone else.
INLINE_PARSE_BYTES = 65_536


async def read_body(raw: bytes, content_type: str | None, model: type[M]) -> M:
    """``parse_body``, inline for a small body, on a worker thread for a large one."""
    return await sized(len(raw), parse_body, raw, content_type, model)


async def sized(size: int, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` for a body of ``size`` bytes: inline up to ``INLINE_PARSE_BYTES`` (a
    thread hop costs more than the work), on a worker thread above."""
    if size <= INLINE_PARSE_BYTES:
        return work(*args)
    return await anyio.to_thread.run_sync(work, *args)


def parse_body(raw: bytes, content_type: str | None, model: type[M]) -> M:
    """``raw`` as a ``model``, or a ``RequestValidationError`` located under ``body``."""
    is_json = _is_json(content_type)
    unparsable: str | None = None  # the fast path's reason when the bytes are not JSON to it
    if raw and is_json:
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            unparsable = next(
                (e["msg"] for e in exc.errors(include_url=False) if e["type"] == "json_invalid"),
                None,
            )  # otherwise read it again below for FastAPI's error shapes
    if not raw:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing], body=None)
    body: Any = raw  # not JSON (FastAPI's strict content type): bytes, which are no object
    if is_json:
        body = _decoded(raw, unparsable)
    try:
        return model.model_validate(body, from_attributes=True)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=body) from exc


def _decoded(raw: bytes, unparsable: str | None) -> Any:
    """``raw`` decoded by ``json`` (FastAPI's decoder, for its error shapes). ``unparsable``
    is why pydantic-core refused the bytes: ``json`` then either fails the same way (a
    ``JSONDecodeError``, answered as FastAPI answers it) or must not be trusted with them."""
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
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _invalid_json(unparsable or str(exc).partition(";")[0]) from exc
    if unparsable is not None:  # e.g. "\ud800": json lets a lone surrogate through
        raise _invalid_json(unparsable)
    return body


def _invalid_json(reason: str) -> RequestValidationError:
    error = {"type": "json_invalid", "loc": ("body",), "msg": reason, "input": {}}
    return RequestValidationError([error], body=None)


def _is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json``, parameters ignored (as FastAPI)."""
    if not content_type:
        return False
    kind = content_type.partition(";")[0].strip().lower()
    maintype, _, subtype = kind.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def openapi_body(
    model: type[BaseModel],
    headers: dict[str, str],
    formats: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads ``model`` and ``headers`` by hand: the body's
    JSON Schema (definitions inlined) and the optional headers with their descriptions, each
    a string of the schema ``formats`` gives it (a pattern, an enum), if any."""
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

    formats = formats or {}
    return {
        "parameters": [
            {
                "name": name,
                "description": description,
                "in": "header",
                "required": False,
                "schema": {"type": "string", **formats.get(name, {})},
            }
            for name, description in headers.items()
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}},
        },
    }
