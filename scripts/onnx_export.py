"""A scikit-learn text pipeline (one string column ``text`` in) as ONNX bytes that are the
same on every run: the bundled models' training scripts share it."""

from __future__ import annotations

from typing import Any

from skl2onnx import to_onnx
from skl2onnx.common.data_types import StringTensorType
from sklearn.pipeline import Pipeline


def text_pipeline_onnx(pipe: Pipeline, graph_name: str, options: dict[int, Any]) -> bytes:
    """``options``: skl2onnx's per-step options, keyed by ``id`` of the step."""
    onx = to_onnx(
        pipe,
        initial_types=[("text", StringTensorType([None, 1]))],
        options=options,
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onx.doc_string = ""
    onx.graph.name = graph_name
    # skl2onnx lists the opsets in no fixed order: sorted, the bytes repeat run to run.
    opsets = sorted((o.domain, o.version) for o in onx.opset_import)
    del onx.opset_import[:]
    for domain, version in opsets:
        onx.opset_import.add(domain=domain, version=version)
    return onx.SerializeToString(deterministic=True)
