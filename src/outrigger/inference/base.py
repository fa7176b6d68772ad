"""The scoring Protocol: a model that maps named input columns to named outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    type: str  # float | string | int64 | double | bool
    shape: tuple[int | str | None, ...] = ()


@runtime_checkable
class Scorer(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def inputs(self) -> Sequence[TensorSpec]: ...

    @property
    def outputs(self) -> Sequence[TensorSpec]: ...

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, NDArray[Any]]:
        """Score a batch: one mapping of input name to value per row; outputs by name,
        first dimension = row."""
        ...


class FunctionScorer:
    """An in-process scorer from a plain function, for tests and rule-based steps."""

    def __init__(
        self,
        name: str,
        version: str,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        fn: Any,
    ) -> None:
        self.name, self.version = name, version
        self.inputs, self.outputs = list(inputs), list(outputs)
        self._fn = fn

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, NDArray[Any]]:
        return {k: np.asarray(v) for k, v in self._fn(rows).items()}
