"""The evaluation gate: a candidate must not regress on the held-out set stored with it.

The candidate and the version the alias points to now are both scored on the candidate's
``holdout.csv``; the promotion is refused when the candidate's metric is worse than the
current one by more than ``tolerance``. Metrics: ``auc`` (binary classifiers: the metadata's
``score_output``/``score_index`` against ``label_column`` == ``positive_class``) and
``accuracy`` (the ``label`` output against ``label_column``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from outrigger.inference.onnx import OnnxModel
from outrigger.registry.registry import Registry, RegistryError, load_version


@dataclass(frozen=True)
class GateResult:
    metric: str
    candidate: float
    baseline: float | None
    baseline_version: str | None
    tolerance: float
    rows: int

    @property
    def passed(self) -> bool:
        return self.baseline is None or self.candidate >= self.baseline - self.tolerance

    def describe(self) -> str:
        base = (
            "no current version"
            if self.baseline is None
            else (f"{self.baseline_version}: {self.baseline:.4f}")
        )
        verdict = "passed" if self.passed else "REFUSED"
        return (
            f"{verdict}: {self.metric} {self.candidate:.4f} vs {base} "
            f"(tolerance {self.tolerance}, {self.rows} held-out rows)"
        )


def auc(labels: NDArray[Any], scores: NDArray[Any]) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney U) formula, ties averaged."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives = labels.astype(bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        raise RegistryError("the held-out set needs both classes to compute AUC")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _rows(model: OnnxModel, records: list[dict[str, str]]) -> list[dict[str, Any]]:
    types = {i.name: i.type for i in model.inputs}
    rows = []
    for raw in records:
        row: dict[str, Any] = {}
        for name, kind in types.items():
            value = raw.get(name, "")
            if kind == "string":
                row[name] = value or "missing"
            else:
                row[name] = float(value) if value not in ("", None) else float("nan")
        rows.append(row)
    return rows


def score(model: OnnxModel, meta: dict[str, Any], holdout: bytes, metric: str) -> tuple[float, int]:
    label_column = meta.get("label_column")
    if not label_column:
        raise RegistryError("metadata.json has no label_column: cannot evaluate")
    records = list(csv.DictReader(io.StringIO(holdout.decode("utf-8"))))
    labels_raw = [r[label_column] for r in records]
    outputs = model.predict(_rows(model, records))
    if metric == "auc":
        positive = str(meta.get("positive_class"))
        labels = np.array([v == positive for v in labels_raw])
        scores = np.asarray(outputs[meta.get("score_output", "probabilities")])[
            :, int(meta.get("score_index", 1))
        ]
        return auc(labels, scores), len(labels)
    if metric == "accuracy":
        classes = [str(c) for c in meta.get("classes", [])]
        raw_labels = np.asarray(outputs["label"]).ravel()
        if classes and raw_labels.dtype.kind in "iu":  # class indices -> class names
            predicted = [classes[int(v)] for v in raw_labels]
        else:
            predicted = [str(v) for v in raw_labels]
        hits = sum(p == t for p, t in zip(predicted, labels_raw, strict=True))
        return hits / len(labels_raw), len(labels_raw)
    raise RegistryError(f"unknown metric {metric!r} (auc, accuracy)")


def evaluate(
    registry: Registry, name: str, version: str, alias: str, metric: str, tolerance: float
) -> GateResult:
    holdout = registry.file(name, version, "holdout.csv")
    if holdout is None:
        raise RegistryError(f"{name}@{version} has no held-out set (holdout.csv): use --force")
    meta = registry.get(name, version).metadata
    candidate, rows = score(load_version(registry, name, version), meta, holdout, metric)
    history = registry.aliases(name).get(alias) or []
    current = history[-1] if history else None
    baseline = None
    if current is not None and current != version:
        base_meta = registry.get(name, current).metadata
        baseline, _ = score(
            load_version(registry, name, current),
            {**base_meta, **_eval_keys(meta)},
            holdout,
            metric,
        )
    return GateResult(metric, candidate, baseline, current, tolerance, rows)


def _eval_keys(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in ("label_column", "positive_class") if k in meta}


def promote(
    registry: Registry,
    name: str,
    version: str,
    alias: str,
    *,
    metric: str | None = None,
    tolerance: float = 0.01,
    force: bool = False,
) -> GateResult | None:
    """Point ``alias`` at ``version`` if the gate passes; ``force`` skips a refusal (and the
    log records that it was forced, with the gate's figures when they could be computed).
    The metric defaults to the version's ``gate_metric`` metadata, else ``auc``."""
    metric = metric or str(registry.get(name, version).metadata.get("gate_metric", "auc"))
    try:
        result: GateResult | None = evaluate(registry, name, version, alias, metric, tolerance)
    except RegistryError:
        if not force:
            raise
        result = None
    if result is not None and not result.passed and not force:
        raise RegistryError(f"promotion of {name}@{version} to {alias} {result.describe()}")
    registry.set_alias(name, alias, version, "promote", forced=force, gate=gate_figures(result))
    return result


def gate_figures(result: GateResult | None) -> dict[str, Any] | None:
    """The gate's figures as the registry's log and the audit chain record them."""
    if result is None:
        return None
    return {
        "metric": result.metric,
        "candidate": round(result.candidate, 6),
        "baseline": None if result.baseline is None else round(result.baseline, 6),
        "passed": result.passed,
    }
