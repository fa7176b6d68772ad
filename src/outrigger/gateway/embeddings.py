"""``POST /v1/embeddings`` (OpenAI's schema) through the proxy's limits, ledger and audit."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response

from outrigger.embeddings.base import Vectors
from outrigger.gateway.chat import caller_trace, feature_of, proxy_error
from outrigger.gateway.schemas import EmbeddingsRequest
from outrigger.proxy.context import BadRequest, ProxyError
from outrigger.proxy.embed_call import EmbedCall, Embedded
from outrigger.proxy.routing import ModelNotFound
from outrigger.proxy.service import LlmProxy

DEFAULT_FEATURE = "embeddings"


class EmbeddingsOff(ModelNotFound):
    code = "embeddings_unavailable"


def router_for(proxy: LlmProxy) -> APIRouter:
    """The embeddings route, bound to ``proxy``'s embedder (built once, at start-up)."""
    router = APIRouter()
    embedder = proxy.embedder
    call = None if embedder is None else EmbedCall(proxy, embedder, proxy.settings.embeddings)

    @router.post("/v1/embeddings", response_model=None)
    async def embeddings(
        body: EmbeddingsRequest,
        request: Request,
        authorization: str | None = Header(default=None),
        x_outrigger_feature: str | None = Header(default=None),
        traceparent: str | None = Header(default=None, description="W3C trace context"),
    ) -> Response:
        del traceparent  # declared for the OpenAPI document; read with tracestate below
        try:
            tenant = await proxy.auth.tenant(authorization)
            if call is None:
                raise EmbeddingsOff(
                    "this gateway serves no embeddings: install outrigger[embeddings] "
                    "and keep embeddings.serve on"
                )
            check(call, body)
            feature = feature_of(x_outrigger_feature, DEFAULT_FEATURE)
            trace_id, parent = caller_trace(request.headers)
            done = await call(tenant, feature, body.texts(), trace_id, parent)
        except ProxyError as exc:
            return proxy_error(exc)
        headers = {"X-Outrigger-Call-Id": done.call_id, "X-Outrigger-Deployment": done.deployment}
        return JSONResponse(response_body(done, body.encoding_format), headers=headers)

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
