"""ONNX Runtime models, loaded from disk in-process.

A model directory holds ``model.onnx`` and, normally, ``metadata.json`` (name, version,
sha256, inputs, outputs) written by the training script. The file's SHA-256 is checked
against the metadata so a result event never names a version it was not scored by.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from outrigger.errors import ConfigError
from outrigger.inference.base import TensorSpec

_ORT_TYPES = {
    "tensor(float)": "float",
    "tensor(double)": "double",
    "tensor(string)": "string",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
}
_NUMPY = {
    "float": np.float32,
    "double": np.float64,
    "int64": np.int64,
    "int32": np.int32,
    "bool": np.bool_,
    "string": object,
}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class OnnxModel:
    def __init__(self, name: str, version: str, session: ort.InferenceSession, sha256: str) -> None:
        self.name = name
        self.version = version
        self.sha256 = sha256
        self._session = session
        self.inputs = [_spec(i) for i in session.get_inputs()]
        self.outputs = [_spec(o) for o in session.get_outputs()]
        self._output_names = [o.name for o in self.outputs]
        self._feeds = _Feeds(self.inputs)

    @classmethod
    def load(cls, directory: Path, *, name: str | None = None, threads: int = 1) -> OnnxModel:
        file = directory / "model.onnx" if directory.is_dir() else directory
        if not file.is_file():
            raise ConfigError(f"no ONNX model at {file}")
        sha = sha256_file(file)
        meta = _metadata(file.parent / "metadata.json")
        if meta.get("sha256") not in (None, sha):
            raise ConfigError(
                f"{file}: sha256 {sha} does not match metadata.json ({meta['sha256']})"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        version = str(meta.get("version") or f"sha256-{sha[:12]}")
        return cls(name or str(meta.get("name") or file.parent.name), version, session, sha)

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, NDArray[Any]]:
        values = self._session.run(self._output_names, self._feeds.of(rows))
        return dict(zip(self._output_names, values, strict=True))


class _Feeds:
    """Rows of named values -> one ``(rows, 1)`` array per input. The numeric inputs of one
    type share one array (a row of it per input, each a contiguous view): one NumPy
    conversion per type instead of one per input, which is most of a one-row call's cost
    outside the model."""

    def __init__(self, inputs: Sequence[TensorSpec]) -> None:
        self.unsupported = [s for s in inputs if s.type not in _NUMPY]
        by_type: dict[Any, list[str]] = {}
        for spec in inputs:
            if spec.type in _NUMPY and spec.type != "string":
                by_type.setdefault(_NUMPY[spec.type], []).append(spec.name)
        self.numeric = list(by_type.items())
        self.texts = [s.name for s in inputs if s.type == "string"]

    def of(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, NDArray[Any]]:
        if self.unsupported:
            spec = self.unsupported[0]
            raise ConfigError(f"input {spec.name!r} has unsupported type {spec.type}")
        count, feeds = len(rows), {}
        for dtype, names in self.numeric:
            block = np.array([[row[name] for row in rows] for name in names], dtype=dtype)
            for i, name in enumerate(names):
                feeds[name] = block[i].reshape(count, 1)
        for name in self.texts:
            texts = [str(row[name]) for row in rows]
            feeds[name] = np.array(texts, dtype=object).reshape(count, 1)
        return feeds


def _spec(node: Any) -> TensorSpec:
    return TensorSpec(node.name, _ORT_TYPES.get(node.type, node.type), tuple(node.shape))


def _metadata(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable model metadata: {exc}") from exc
    return data if isinstance(data, dict) else {}
