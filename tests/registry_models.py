"""Small real ONNX models for registry tests: a weak credit model (age only) to stand for a
regression, built with scikit-learn and skl2onnx from the bundled held-out data."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

from outrigger.resources import bundled_root

BUNDLED = bundled_root() / "models" / "credit-risk" / "1.0.0"


def copy_bundled(dest: Path) -> Path:
    shutil.copytree(BUNDLED, dest)
    return dest


def weak_model(dest: Path) -> Path:
    """A logistic regression on age alone, same outputs, shipped with the same held-out set."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    with (BUNDLED / "holdout.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    x = np.array([[float(r["age"])] for r in rows], dtype=np.float32)
    y = np.array([r["status"] == "bad" for r in rows], dtype=int)
    model = LogisticRegression().fit(x, y)
    onx = to_onnx(
        model,
        initial_types=[("age", FloatTensorType([None, 1]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    names = {"output_label": "label", "output_probability": "probabilities"}
    for out in onx.graph.output:
        out.name = names.get(out.name, out.name)
    for node in onx.graph.node:
        node.output[:] = [names.get(o, o) for o in node.output]
    dest.mkdir(parents=True)
    (dest / "model.onnx").write_bytes(onx.SerializeToString())
    meta = json.loads((BUNDLED / "metadata.json").read_text())
    meta.pop("sha256")
    meta["inputs"] = [{"name": "age", "type": "float", "shape": [None, 1]}]
    (dest / "metadata.json").write_text(json.dumps(meta))
    shutil.copy(BUNDLED / "holdout.csv", dest / "holdout.csv")
    return dest
