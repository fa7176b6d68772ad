"""``/v1/models`` and ``POST /v1/models/{name}/predict``: in-process ONNX scoring over HTTP."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from outrigger.engine.pipeline import PipelineSet
from outrigger.gateway.errors import error_body
from outrigger.inference.base import Scorer
from outrigger.inference.validate import InputError, validate_rows

router = APIRouter()
MAX_ROWS = 1024


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ROWS)


def _models(request: Request) -> dict[str, Scorer]:
    pipelines: PipelineSet = request.app.state.pipelines
    return {s.spec.model: s.model for p in pipelines.pipelines for s in p.scores}


@router.post("/v1/models/{name}/predict", response_model=None)
async def predict(
    name: str, body: PredictRequest, request: Request
) -> dict[str, Any] | JSONResponse:
    model = _models(request).get(name)
    if model is None:
        raise HTTPException(404, f"no model named {name!r} is loaded")
    try:
        rows = validate_rows(model.inputs, body.inputs)
    except InputError as exc:
        return JSONResponse(
            error_body(str(exc), "invalid_request_error", exc.param), status_code=400
        )
    outputs = model.predict(rows)
    return {
        "model": name,
        "version": model.version,
        "outputs": {k: np.asarray(v).tolist() for k, v in outputs.items()},
    }
