"""Registry semantics on the in-memory and directory stores (the S3 store shares the
blob-store contract), with real ONNX models and the real evaluation gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from outrigger.registry.directory import DirectoryBlobStore
from outrigger.registry.gate import auc, evaluate, promote
from outrigger.registry.memory import MemoryBlobStore
from outrigger.registry.registry import Registry, RegistryError
from tests.registry_models import BUNDLED, weak_model


@pytest.fixture(params=["memory", "directory"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Registry:
    store = MemoryBlobStore() if request.param == "memory" else DirectoryBlobStore(tmp_path / "reg")
    return Registry(store)


def test_publish_is_immutable_and_checked(registry: Registry) -> None:
    version = registry.publish(BUNDLED, "credit-risk", "1.0.0")
    assert version.sha256 == json.loads((BUNDLED / "metadata.json").read_text())["sha256"]
    assert version.metadata["signature"]["inputs"][0]["name"] == "seniority"
    with pytest.raises(RegistryError, match="immutable"):
        registry.publish(BUNDLED, "credit-risk", "1.0.0")
    with pytest.raises(RegistryError, match="semantic version"):
        registry.publish(BUNDLED, "credit-risk", "v2")
    assert (
        registry.file("credit-risk", "1.0.0", "model.onnx") == (BUNDLED / "model.onnx").read_bytes()
    )
    assert registry.log("credit-risk")[0]["action"] == "publish"


def test_versions_sort_semantically(registry: Registry) -> None:
    for v in ("1.10.0", "1.2.0", "1.9.3"):
        registry.publish(BUNDLED, "m", v)
    assert registry.versions("m") == ["1.2.0", "1.9.3", "1.10.0"]


def test_promote_resolve_and_rollback(registry: Registry) -> None:
    for v in ("1.0.0", "1.1.0"):
        registry.publish(BUNDLED, "credit-risk", v)
    promote(registry, "credit-risk", "1.0.0", "stable")
    promote(registry, "credit-risk", "1.1.0", "stable")
    assert registry.resolve("credit-risk", "stable") == "1.1.0"
    assert registry.resolve("credit-risk", "1.0.0") == "1.0.0"
    assert registry.rollback("credit-risk", "stable") == ("1.1.0", "1.0.0")
    assert registry.resolve("credit-risk", "stable") == "1.0.0"
    with pytest.raises(RegistryError, match="no earlier version"):
        registry.rollback("credit-risk", "stable")
    with pytest.raises(RegistryError, match="no alias"):
        registry.resolve("credit-risk", "canary")


def test_gate_refuses_a_regression_and_force_is_logged(registry: Registry, tmp_path: Path) -> None:
    registry.publish(BUNDLED, "credit-risk", "1.0.0")
    promote(registry, "credit-risk", "1.0.0", "stable")
    registry.publish(weak_model(tmp_path / "weak"), "credit-risk", "1.1.0")
    result = evaluate(registry, "credit-risk", "1.1.0", "stable", "auc", 0.01)
    assert result.baseline is not None and result.baseline > 0.8
    assert result.candidate < result.baseline - 0.01
    assert not result.passed
    with pytest.raises(RegistryError, match="REFUSED"):
        promote(registry, "credit-risk", "1.1.0", "stable")
    assert registry.resolve("credit-risk", "stable") == "1.0.0"
    promote(registry, "credit-risk", "1.1.0", "stable", force=True)
    assert registry.resolve("credit-risk", "stable") == "1.1.0"
    last = registry.log("credit-risk")[-1]
    assert last["forced"] is True and last["gate"]["passed"] is False


def test_prune_keeps_three_and_aliased(registry: Registry) -> None:
    registry.publish(BUNDLED, "m", "1.0.0")
    promote(registry, "m", "1.0.0", "stable")
    for v in ("1.1.0", "1.2.0", "1.3.0", "1.4.0"):
        registry.publish(BUNDLED, "m", v)
    assert registry.versions("m") == ["1.0.0", "1.2.0", "1.3.0", "1.4.0"]
    assert any(e["action"] == "prune" and e["versions"] == ["1.1.0"] for e in registry.log("m"))


def test_auc_matches_known_values() -> None:
    import numpy as np

    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_accuracy_maps_class_indices_to_names(registry: Registry) -> None:
    registry.publish(BUNDLED, "credit-risk", "1.0.0")
    result = evaluate(registry, "credit-risk", "1.0.0", "stable", "accuracy", 0.01)
    assert 0.7 < result.candidate < 1.0  # label 0/1 read as good/bad, not compared as "0"
