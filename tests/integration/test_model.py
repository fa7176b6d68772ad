"""The bundled credit-risk model: reproducible from the script, loadable, and as good as its
card says on the held-out split."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from outrigger.errors import ConfigError
from outrigger.inference.onnx import OnnxModel
from outrigger.resources import bundled_root

MODEL_DIR = bundled_root() / "models" / "credit-risk" / "1.0.0"
SCRIPT = Path(__file__).parents[2] / "scripts" / "train_credit_risk.py"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("script", "bundled"),
    [
        ("train_credit_risk.py", MODEL_DIR),
        ("train_ticket_intent.py", bundled_root() / "models" / "ticket-intent" / "1.0.0"),
    ],
)
def test_training_scripts_reproduce_the_bundled_files(
    script: str, bundled: Path, tmp_path: Path
) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT.parent / script), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    for name in ("model.onnx", "metadata.json", "holdout.csv", "MODEL_CARD.md"):
        assert (tmp_path / name).read_bytes() == (bundled / name).read_bytes(), name


def test_model_loads_with_its_metadata() -> None:
    model = OnnxModel.load(MODEL_DIR)
    meta = json.loads((MODEL_DIR / "metadata.json").read_text())
    assert (model.name, model.version, model.sha256) == ("credit-risk", "1.0.0", meta["sha256"])
    assert [(i.name, i.type) for i in model.inputs] == [
        (i["name"], i["type"]) for i in meta["inputs"]
    ]


def test_holdout_auc_matches_the_card() -> None:
    model = OnnxModel.load(MODEL_DIR)
    with (MODEL_DIR / "holdout.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    numeric = {i.name for i in model.inputs if i.type == "float"}
    feats = [
        {
            k: (float(v) if v else float("nan")) if k in numeric else (v or "missing")
            for k, v in r.items()
            if k != "status"
        }
        for r in rows
    ]
    p = model.predict(feats)["probabilities"][:, 1]
    y = np.array([r["status"] == "bad" for r in rows])
    auc = roc_auc_score(y, p)
    meta = json.loads((MODEL_DIR / "metadata.json").read_text())
    assert auc == pytest.approx(meta["metrics"]["auc"], abs=1e-4)
    assert auc > 0.8
    assert ((p >= 0) & (p <= 1)).all()


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes((MODEL_DIR / "model.onnx").read_bytes())
    meta = json.loads((MODEL_DIR / "metadata.json").read_text())
    meta["sha256"] = "0" * 64
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="does not match"):
        OnnxModel.load(tmp_path)
