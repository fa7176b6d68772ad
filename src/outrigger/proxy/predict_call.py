"""ONNX predictions through the proxy's limits, ledger and audit
(``POST /v1/models/{name}/predict``).

A prediction is a metered call (``proxy/metered.py``) like an embedding: the tenant's RPM and
monthly quota apply (it takes no tokens), and it leaves one ledger row and one audit record:
alias = the model's name, deployment ``onnx``, model ``<name>@<version>``, cost 0, the hashes
of the input rows and of the outputs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from opentelemetry.context import Context

from outrigger.inference.base import Scorer
from outrigger.llm.types import ChatRequest, Usage
from outrigger.proxy.context import CallContext, ProxyError
from outrigger.proxy.metered import Done, metered
from outrigger.proxy.service import LlmProxy
from outrigger.storage.audit import sha256_text
from outrigger.storage.tenants import Tenant

ONNX_DEPLOYMENT = "onnx"
log = logging.getLogger(__name__)


class PredictionFailed(ProxyError):
    status, kind, code = 500, "server_error", "prediction_failed"


class PredictCall:
    def __init__(self, proxy: LlmProxy) -> None:
        self.proxy = proxy

    async def __call__(
        self,
        tenant: Tenant,
        feature: str,
        name: str,
        model: Scorer,
        rows: Sequence[Mapping[str, Any]],
        trace_id: str | None = None,
        parent: Context | None = None,
    ) -> tuple[dict[str, Any], str]:
        """The outputs of ``model`` (served as ``name``) for ``rows`` (checked already) as
        lists, and the call id; ``ProxyError`` when refused or failed."""
        ctx = CallContext(
            tenant=tenant,
            feature=feature,
            request=ChatRequest(name, []),  # no text: the limits take no tokens
            trace_id=trace_id,
            parent=parent,
            fallback_answer=False,
        )
        prompt = _digest(list(rows))
        outputs = await metered(
            self.proxy, ctx, partial(_work, name, model, rows), prompt, "predict"
        )
        return outputs, ctx.call_id


async def _work(
    name: str, model: Scorer, rows: Sequence[Mapping[str, Any]], ctx: CallContext
) -> Done[dict[str, Any]]:
    ctx.alias = name
    ctx.deployment = ONNX_DEPLOYMENT
    ctx.model = f"{name}@{model.version}"
    try:
        raw = await asyncio.to_thread(model.predict, rows)
    except Exception as exc:  # ONNX Runtime's errors have no common base; recorded, logged
        log.exception("prediction of %s failed", ctx.model)
        raise PredictionFailed(f"{name}: the prediction failed") from exc
    outputs = {k: np.asarray(v).tolist() for k, v in raw.items()}
    return Done(outputs, Usage(), 0.0, _digest(outputs))


def _digest(value: Any) -> str:
    return sha256_text(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str))
