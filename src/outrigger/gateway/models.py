"""``POST /v1/models/{name}/predict``: in-process ONNX scoring over HTTP.

Behind the same tenant keys, limits, ledger and audit trail as every other AI route: a
prediction is a metered call of the proxy (``proxy/predict_call.py``; feature from
``X-Outrigger-Feature``, default ``predict``). A gateway built without a proxy
(``create_app(proxy=None)``, a library use: both CLI commands build one) has no keys to check
and refuses every prediction with 401: the route never answers unauthenticated.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from outrigger.engine.pipeline import PipelineSet
from outrigger.gateway.caller import client_address
from outrigger.gateway.chat import caller_trace, feature_of, proxy_error
from outrigger.gateway.errors import error_body
from outrigger.inference.base import Scorer
from outrigger.inference.validate import InputError, validate_rows
from outrigger.proxy.context import ProxyError, Unauthorized
from outrigger.proxy.predict_call import ONNX_DEPLOYMENT, PredictCall
from outrigger.proxy.routing import ModelNotFound
from outrigger.proxy.service import LlmProxy

router = APIRouter()
MAX_ROWS = 1024
DEFAULT_FEATURE = "predict"


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ROWS)


def _models(request: Request) -> dict[str, Scorer]:
    pipelines: PipelineSet = request.app.state.pipelines
    return {s.spec.model: s.model for p in pipelines.pipelines for s in p.scores}


def _caller(request: Request) -> LlmProxy:
    proxy: LlmProxy | None = request.app.state.proxy
    if proxy is None:
        raise Unauthorized("this gateway has no LLM proxy to check API keys: predictions refused")
    return proxy


@router.post("/v1/models/{name}/predict", response_model=None)
async def predict(
    name: str,
    body: PredictRequest,
    request: Request,
    authorization: str | None = Header(default=None),
    x_outrigger_feature: str | None = Header(default=None),
) -> dict[str, Any] | JSONResponse:
    """Score up to 1,024 rows with a loaded model; one ledger row and audit record per call."""
    try:
        proxy = _caller(request)
        tenant = await proxy.auth.tenant(authorization, client_address(request))
        feature = feature_of(x_outrigger_feature, DEFAULT_FEATURE)
        model = _models(request).get(name)
        if model is None:
            raise ModelNotFound(f"no model named {name!r} is loaded")
        try:
            rows = validate_rows(model.inputs, body.inputs)
        except InputError as exc:
            error = error_body(str(exc), "invalid_request_error", exc.param)
            return JSONResponse(error, status_code=400)
        trace_id, parent = caller_trace(request.headers)
        outputs, call_id = await PredictCall(proxy)(
            tenant, feature, name, model, rows, trace_id, parent
        )
    except ProxyError as exc:
        return proxy_error(exc)
    headers = {"X-Outrigger-Call-Id": call_id, "X-Outrigger-Deployment": ONNX_DEPLOYMENT}
    body_out = {"model": name, "version": model.version, "outputs": outputs}
    return JSONResponse(body_out, headers=headers)
