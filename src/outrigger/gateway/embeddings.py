"""``POST /v1/embeddings`` (OpenAI's schema) through the proxy's limits, ledger and audit."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from outrigger.embeddings.base import Vectors
from outrigger.gateway.body import openapi_body, read_body
from outrigger.gateway.caller import client_address
from outrigger.gateway.chat import FEATURE, PROXY_ERRORS, caller_trace, feature_of, proxy_error
from outrigger.gateway.schemas import EmbeddingsRequest
from outrigger.proxy.context import BadRequest, ProxyError
from outrigger.proxy.embed_call import EmbedCall, Embedded
from outrigger.proxy.routing import ModelNotFound
from outrigger.proxy.service import LlmProxy

DEFAULT_FEATURE = "embeddings"
# Read by hand, as chat's body is (gateway/body.py): bytes the JSON decoder cannot take are a
# 400 naming the problem, and a large body is parsed off the event loop.
EMBEDDINGS_OPENAPI = openapi_body(
    EmbeddingsRequest,
    headers={
        "Authorization": "'Bearer <key>'",
        "X-Outrigger-Feature": "the feature the call is counted under (default: embeddings)",
        "traceparent": "W3C trace context",
    },
    formats={"X-Outrigger-Feature": {"pattern": FEATURE.pattern}},
)


class EmbeddingsOff(ModelNotFound):
    code = "embeddings_unavailable"


def router_for(proxy: LlmProxy) -> APIRouter:
    """The embeddings route, bound to ``proxy``'s embedder (built once, at start-up)."""
    router = APIRouter()
    embedder = proxy.embedder
    call = None if embedder is None else EmbedCall(proxy, embedder, proxy.settings.embeddings)

    @router.post(
        "/v1/embeddings",
        response_model=None,
        openapi_extra=EMBEDDINGS_OPENAPI,
        responses=PROXY_ERRORS,
    )
    async def embeddings(request: Request) -> Response:
        headers = request.headers
        raw = await request.body()
        body = await read_body(raw, headers.get("content-type"), EmbeddingsRequest)
        try:
            tenant = await proxy.auth.tenant(headers.get("authorization"), client_address(request))
            if call is None:
                raise EmbeddingsOff(
                    "this gateway serves no embeddings: install outrigger[embeddings] "
                    "and keep embeddings.serve on"
                )
            check(call, body)
            feature = feature_of(headers.get("x-outrigger-feature"), DEFAULT_FEATURE)
            trace_id, parent = caller_trace(headers)
            done = await call(tenant, feature, body.texts(), trace_id, parent)
        except ProxyError as exc:
            return proxy_error(exc)
        ids = {"X-Outrigger-Call-Id": done.call_id, "X-Outrigger-Deployment": done.deployment}
        return JSONResponse(response_body(done, body.encoding_format), headers=ids)

    return router


def check(call: EmbedCall, body: EmbeddingsRequest) -> None:
    if body.model not in call.names:
        raise ModelNotFound(
            f"embedding model {body.model!r} does not exist; available: "
            + ", ".join(sorted(call.names))
        )
    if body.dimensions is not None and body.dimensions != call.embedder.dim:
        raise BadRequest(
            f"dimensions: {body.model} makes {call.embedder.dim}-d vectors and cannot "
            f"shorten them to {body.dimensions}"
        )


def response_body(done: Embedded, encoding_format: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(row, encoding_format)}
            for i, row in enumerate(done.vectors)
        ],
        "model": done.model,
        "usage": {"prompt_tokens": done.prompt_tokens, "total_tokens": done.prompt_tokens},
    }


def _encode(row: Vectors, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":  # little-endian float32, as OpenAI's clients decode it
        return base64.b64encode(np.asarray(row, dtype="<f4").tobytes()).decode("ascii")
    values: list[float] = row.tolist()
    return values
