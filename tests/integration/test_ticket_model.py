"""The bundled ticket-intent text classifier (its reproduction is checked in test_model.py):
loadable, as good as its card, and promotable through the registry's gate on its own metric (accuracy)."""

from __future__ import annotations

import csv
import json

import pytest

from outrigger.inference.onnx import OnnxModel
from outrigger.registry.gate import promote
from outrigger.registry.memory import MemoryBlobStore
from outrigger.registry.registry import Registry
from outrigger.resources import bundled_root

MODEL_DIR = bundled_root() / "models" / "ticket-intent" / "1.0.0"


def test_holdout_accuracy_matches_the_card() -> None:
    model = OnnxModel.load(MODEL_DIR)
    with (MODEL_DIR / "holdout.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    labels = model.predict([{"text": r["text"]} for r in rows])["label"]
    accuracy = sum(str(p) == r["intent"] for p, r in zip(labels, rows, strict=True)) / len(rows)
    meta = json.loads((MODEL_DIR / "metadata.json").read_text())
    assert accuracy == pytest.approx(meta["metrics"]["accuracy"], abs=1e-6)
    assert accuracy > 0.6  # six classes: chance is 0.17


def test_obvious_tickets_get_their_intent() -> None:
    model = OnnxModel.load(MODEL_DIR)
    texts = [
        "i forgot my net banking password and cannot log in",
        "there is a charge on my card i did not make please refund",
        "please update my address and pan in your records",
    ]
    labels = [str(x) for x in model.predict([{"text": t} for t in texts])["label"]]
    assert labels == ["account_access", "disputed_transaction", "kyc_update"]


def test_gate_uses_the_models_own_metric() -> None:
    registry = Registry(MemoryBlobStore())
    registry.publish(MODEL_DIR, "ticket-intent", "1.0.0")
    result = promote(registry, "ticket-intent", "1.0.0", "stable")
    assert result is not None and result.metric == "accuracy"
    assert result.candidate == pytest.approx(0.754717, abs=1e-6)
    assert registry.resolve("ticket-intent", "stable") == "1.0.0"
