"""The ONNX model's input arrays: one array per numeric type, a contiguous row per input."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from outrigger.errors import ConfigError
from outrigger.inference.base import TensorSpec
from outrigger.inference.onnx import OnnxModel, _Feeds

MODEL = Path(__file__).resolve().parents[2] / "src/outrigger/bundled/models/credit-risk/1.0.0"
ROWS: list[dict[str, Any]] = [
    {"seniority": 3.0, "time": 36.0, "age": 41.0, "expenses": 60.0, "income": 180.0,
     "assets": math.nan, "debt": 0.0, "amount": 1200.0, "price": 1500.0, "home": "rent",
     "marital": "married", "records": "no", "job": "fixed"},
    {"seniority": 0.0, "time": 60.0, "age": 22.0, "expenses": 45.0, "income": math.nan,
     "assets": 0.0, "debt": 900.0, "amount": 2500.0, "price": 2600.0, "home": "parents",
     "marital": "single", "records": "yes", "job": "partime"},
]  # fmt: skip


def test_feeds_equal_one_array_per_input() -> None:
    specs = [TensorSpec("a", "float", (None, 1)), TensorSpec("n", "int64", (None, 1)),
             TensorSpec("b", "float", (None, 1)), TensorSpec("s", "string", (None, 1))]  # fmt: skip
    rows = [{"a": 1.5, "n": 3, "b": -2.0, "s": "x"}, {"a": 0.25, "n": 4, "b": 8.0, "s": 7}]
    feeds = _Feeds(specs).of(rows)
    expected: dict[str, np.ndarray[Any, Any]] = {
        "a": np.array([[1.5], [0.25]], dtype=np.float32),
        "n": np.array([[3], [4]], dtype=np.int64),
        "b": np.array([[-2.0], [8.0]], dtype=np.float32),
        "s": np.array([["x"], ["7"]], dtype=object),
    }
    assert set(feeds) == set(expected)
    for name, array in expected.items():
        assert feeds[name].dtype == array.dtype and feeds[name].shape == (2, 1)
        assert feeds[name].flags.c_contiguous
        assert (feeds[name] == array).all()


def test_an_unsupported_input_type_is_refused_when_called() -> None:
    feeds = _Feeds([TensorSpec("c", "complex64", (None, 1))])
    with pytest.raises(ConfigError, match="unsupported type complex64"):
        feeds.of([{"c": 1}])


def test_a_batch_scores_as_its_rows_do_alone() -> None:
    model = OnnxModel.load(MODEL)
    together = model.predict(ROWS)
    for i, row in enumerate(ROWS):
        alone = model.predict([row])
        for name, values in together.items():
            assert np.allclose(np.asarray(values)[i], np.asarray(alone[name])[0], equal_nan=True)
