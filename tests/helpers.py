"""Test helpers shared by unit and integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from outrigger.config.load import default_pipelines_file, parse_pipelines
from outrigger.engine.pipeline import PipelineSet, compile_pipelines
from outrigger.inference.base import FunctionScorer, TensorSpec

NUMERIC = ["seniority", "time", "age", "expenses", "income", "assets", "debt", "amount", "price"]
CATEGORICAL = ["home", "marital", "records", "job"]


def demo_spec_text() -> str:
    """The bundled credit-risk pipeline alone (the ticket-summary pipeline needs the LLM
    proxy; tests/integration/test_llm_step.py covers it)."""
    doc = yaml.safe_load(default_pipelines_file().read_text())
    doc["pipelines"] = [p for p in doc["pipelines"] if p["name"] == "credit-risk-assessment"]
    return yaml.safe_dump(doc, sort_keys=False)


def fake_credit_model(score: Callable[[dict[str, Any]], float]) -> FunctionScorer:
    """A stand-in with the credit-risk model's signature, for policy tests that must control
    the score (the real ONNX model is exercised by the integration tests)."""
    inputs = [TensorSpec(n, "float", (None, 1)) for n in NUMERIC]
    inputs += [TensorSpec(n, "string", (None, 1)) for n in CATEGORICAL]
    outputs = [TensorSpec("label", "int64"), TensorSpec("probabilities", "float", (None, 2))]

    def predict(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        p = np.array([score(r) for r in rows], dtype=np.float32)
        return {"label": (p > 0.5).astype(np.int64), "probabilities": np.stack([1 - p, p], axis=1)}

    return FunctionScorer("credit-risk", "9.9.9-test", inputs, outputs, predict)


def demo_pipelines(
    score: Callable[[dict[str, Any]], float] | None = None, result_exchange: str | None = None
) -> PipelineSet:
    """The demo's pipelines with a fake model; ``result_exchange``: the loan pipeline's
    publish step names this exchange."""
    text = demo_spec_text()
    if result_exchange is not None:
        doc = yaml.safe_load(text)
        for pipeline in doc["pipelines"]:
            for step in pipeline["steps"]:
                if "publish" in step:
                    step["publish"]["exchange"] = result_exchange
        text = yaml.safe_dump(doc)
    spec = parse_pipelines(text, "demo")
    model = fake_credit_model(score or (lambda row: min(1.0, row["amount"] / 10_000)))
    return compile_pipelines(spec, Path("."), loader=lambda name, spec, base: model)


def demo_yaml_doc() -> dict[str, Any]:
    return yaml.safe_load(demo_spec_text())


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not await _value(predicate()):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


async def _value(value: Any) -> Any:
    if asyncio.iscoroutine(value):
        return await value
    return value
