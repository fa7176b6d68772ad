"""``POST /v1/chat/completions`` (plain and SSE), ``GET /v1/models``, ``GET /v1/usage``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from opentelemetry.context import Context
from opentelemetry.propagate import extract
from opentelemetry.trace import get_current_span

from outrigger.gateway.body import openapi_body, read_body, sized
from outrigger.gateway.caller import client_address
from outrigger.gateway.errors import error_body
from outrigger.gateway.openapi import error_responses
from outrigger.gateway.schemas import ChatCompletionRequest
from outrigger.llm.types import ChatRequest
from outrigger.proxy.budgets import budget_lines
from outrigger.proxy.context import BadRequest, CallContext, Completion, ProxyError, Stream
from outrigger.proxy.embed_call import model_names
from outrigger.proxy.limits import month_of
from outrigger.proxy.service import LlmProxy

router = APIRouter()
FEATURE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DEFAULT_FEATURE = "chat"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _proxy(request: Request) -> LlmProxy:
    proxy: LlmProxy = request.app.state.proxy
    return proxy


def proxy_error(exc: ProxyError) -> JSONResponse:
    headers = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(int(exc.retry_after_s))
    return JSONResponse(
        error_body(str(exc), exc.kind, code=exc.code), status_code=exc.status, headers=headers
    )


def caller_trace(headers: Mapping[str, str]) -> tuple[str | None, Context | None]:
    """The caller's W3C trace id and context, when it sent a valid ``traceparent`` (the
    span of this call joins it); (None, None) otherwise."""
    if "traceparent" not in headers:
        return None, None
    parent = extract({k: headers[k] for k in ("traceparent", "tracestate") if k in headers})
    span = get_current_span(parent).get_span_context()
    if not span.is_valid:
        return None, None
    return format(span.trace_id, "032x"), parent


def feature_of(value: str | None, default: str = DEFAULT_FEATURE) -> str:
    """The ``X-Outrigger-Feature`` header's value, checked, or ``default`` without one."""
    if value is None:
        return default
    if not FEATURE.match(value):
        raise BadRequest("X-Outrigger-Feature: use 1-128 of A-Z a-z 0-9 _ . : -")
    return value


def _headers(ctx: CallContext) -> dict[str, str]:
    headers = {"X-Outrigger-Call-Id": ctx.call_id, "X-Outrigger-Cache": ctx.cache}
    if ctx.deployment:
        headers["X-Outrigger-Deployment"] = ctx.deployment
    if ctx.status == "fallback":
        headers["X-Outrigger-Fallback"] = "true"
    if ctx.flags:
        headers["X-Outrigger-Flags"] = ",".join(ctx.flags)
    if ctx.cache_policy:
        headers["X-Outrigger-Cache-Policy"] = ctx.cache_policy
    return headers


def _bypass(value: str | None) -> bool:
    if value is None:
        return False
    if value.strip().lower() != "bypass":
        raise BadRequest("X-Outrigger-Cache: the only accepted value is 'bypass'")
    return True


# The body and headers are read by hand (gateway/body.py: FastAPI's parameter solving is most
# of its per-request cost); the OpenAPI document still describes them.
CHAT_OPENAPI = openapi_body(
    ChatCompletionRequest,
    headers={
        "Authorization": "'Bearer <key>'",
        "X-Outrigger-Feature": "the feature the call is counted under (default: chat)",
        "X-Outrigger-Cache": "'bypass': skip the cache",
        "traceparent": "W3C trace context",
    },
    formats={
        "X-Outrigger-Feature": {"pattern": FEATURE.pattern},
        "X-Outrigger-Cache": {"enum": ["bypass"]},
    },
)
CHAT_OPENAPI["responses"] = {
    "200": {
        "description": "The completion, or with stream: true its chunks as Server-Sent Events",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            # Each event (OpenAPI 3.1: ``schema`` describes one): a chunk as JSON, then [DONE].
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {"data": {"type": "string"}},
                }
            },
        },
    }
}
#: What a call through the proxy can answer besides 200 (see ProxyError and its subclasses).
PROXY_ERRORS = error_responses(400, 401, 403, 404, 413, 429, 502, 503)


@router.post(
    "/v1/chat/completions",
    response_model=None,
    openapi_extra=CHAT_OPENAPI,
    responses=PROXY_ERRORS,
)
async def chat_completions(request: Request) -> Response:
    proxy = _proxy(request)
    headers = request.headers
    raw = await request.body()
    body = await read_body(raw, headers.get("content-type"), ChatCompletionRequest)
    try:
        tenant = await proxy.auth.tenant(headers.get("authorization"), client_address(request))
        trace_id, parent = caller_trace(headers)
        ctx = CallContext(
            tenant=tenant,
            feature=feature_of(headers.get("x-outrigger-feature")),
            request=await sized(len(raw), _chat_request, body),
            trace_id=trace_id,
            parent=parent,
            cache_bypass=_bypass(headers.get("x-outrigger-cache")),
            call_id=request.app.state.call_ids.new(),
            end_user=body.user,
        )
        reply = await proxy.call(ctx)
        if isinstance(reply, Completion):
            return JSONResponse(reply.body, headers=_headers(ctx))
        assert isinstance(reply, Stream)
        first = await anext(reply.chunks, None)  # errors before any chunk get a status code
    except ProxyError as exc:
        return proxy_error(exc)
    return StreamingResponse(
        _sse(first, reply.chunks),
        media_type="text/event-stream",
        headers={**SSE_HEADERS, **_headers(ctx)},
    )


def _chat_request(body: ChatCompletionRequest) -> ChatRequest:
    return ChatRequest(body.model, body.message_dicts(), body.params(), body.stream)


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


async def _sse(
    first: dict[str, Any] | None, rest: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[bytes]:
    """The chunks as SSE, then ``[DONE]``; a failure mid-way ends with an error event, so
    the client can tell a broken answer from a finished one."""
    try:
        if first is not None:
            yield _event(first)
        async for chunk in rest:
            yield _event(chunk)
    except ProxyError as exc:
        yield _event(error_body(str(exc), exc.kind, code=exc.code))
        return
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
    yield b"data: [DONE]\n\n"


@router.get("/v1/models", response_model=None, responses=error_responses(401, 429, 503))
async def list_models(
    request: Request, authorization: str | None = Header(default=None)
) -> dict[str, Any] | JSONResponse:
    """The chat model aliases and embedding models this gateway serves (OpenAI's list
    shape), for a caller with a valid key, as OpenAI's own route: what a deployment serves is
    not for whoever can reach the port."""
    proxy = _proxy(request)
    try:
        await proxy.auth.tenant(authorization, client_address(request))
    except ProxyError as exc:
        return proxy_error(exc)
    names = list(proxy.dispatcher.router.aliases)
    if proxy.embedder is not None:
        names += sorted(model_names(proxy.embedder, proxy.settings.embeddings) - set(names))
    return {
        "object": "list",
        "data": [
            {"id": a, "object": "model", "created": 0, "owned_by": "outrigger"} for a in names
        ],
    }


@router.get("/v1/usage", response_model=None, responses=error_responses(400, 401, 429, 503))
async def usage(
    request: Request,
    month: str | None = Query(default=None, description="YYYY-MM (UTC); default: this month"),
    authorization: str | None = Header(default=None),
) -> dict[str, Any] | JSONResponse:
    """The calling tenant's own calls, tokens and cost in a month, per feature and alias, and
    its budgets (the tenant's, the calling key's, its features') with what was spent."""
    proxy = _proxy(request)
    try:
        tenant = await proxy.auth.tenant(authorization, client_address(request))
        if month is not None and not MONTH.match(month):
            raise BadRequest("month: use YYYY-MM")
    except ProxyError as exc:
        return proxy_error(exc)
    wanted = month or month_of(time.time())
    await proxy.flush()  # include the calls still waiting in the writer
    lines = await proxy.db.run(proxy.ledger.usage, tenant.id, wanted)
    budgets = await proxy.db.run(budget_lines, tenant, proxy.settings.tenancy, proxy.ledger, wanted)
    return {
        "object": "usage",
        "tenant": tenant.id,
        "month": wanted,
        "data": [line.as_dict() for line in lines],
        "total": {
            "calls": sum(x.calls for x in lines),
            "tokens_in": sum(x.tokens_in for x in lines),
            "tokens_out": sum(x.tokens_out for x in lines),
            "cost_usd": round(sum(x.cost_usd for x in lines), 6),
        },
        "budgets": [b.as_dict() for b in budgets],
    }
