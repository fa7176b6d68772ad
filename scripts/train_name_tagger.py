"""Train the bundled name tagger (``privacy/names.py``) and export it to ONNX, reproducibly.

Data, all from PyPI packages (the ``train`` extra): Faker's per-locale first-name and surname
lists (MIT; 40+ Latin-script locales plus the romanised Japanese and Chinese lists) and a few
common romanised Korean names written here, filled into the training templates of
``scripts/name_tagger_data.py`` with Faker's cities, companies, jobs and addresses as
capitalised non-names. ``benchmarks/data`` is never read (its sets are for evaluation only).

Gazetteer drop-out: the sentences are featurised with a gazetteer that lacks a random 30 % of
the names (different ones for training and validation), so the model learns to find names
the gazetteer does not know from shape and context; the shipped gazetteer has them all.

Model: logistic regression (scikit-learn, liblinear) over the binary features of
``names.token_features`` (features seen at least twice), exported as an ONNX graph
``Gather(weights, ids) -> ReduceSum -> + bias -> Sigmoid``. The threshold maximises token
F2 on a validation set generated with another seed.

    python scripts/train_name_tagger.py [--out DIR] [--sentences 40000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import faker
import numpy as np
import onnx
import sklearn
from faker import Faker
from onnx import TensorProto, helper
from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
from scripts.name_tagger_data import FUNCTION_WORDS, NamePools, fillers, name_pools, sentence  # noqa: E402

from outrigger.privacy.names import Lexicon, token_features, tokenize  # noqa: E402

VERSION = "1.0.0"
DEFAULT_OUT = ROOT / f"src/outrigger/bundled/models/name-tagger/{VERSION}"
SEED = 20261206
DROP = 0.3
PRUNE = 0.02


def gazetteer(pools: NamePools, rng: random.Random | None) -> dict[str, str]:
    """Lower-cased name -> F/L/B; with ``rng``, a random ``DROP`` of the names left out."""
    # English function words are left out ("My" and "Pan" are names in Faker's lists).
    skip = set(FUNCTION_WORDS) | set(ENGLISH_STOP_WORDS)
    first = {n.lower() for n in pools.first if rng is None or rng.random() >= DROP} - skip
    last = {n.lower() for n in pools.last if rng is None or rng.random() >= DROP} - skip
    both = first & last
    return {n: "B" if n in both else "F" if n in first else "L" for n in first | last}


def common_words() -> frozenset[str]:
    from faker.providers.lorem.en_US import Provider

    words = {w.lower() for w in Provider.word_list if w.isalpha()}
    return frozenset(words | set(FUNCTION_WORDS) | set(ENGLISH_STOP_WORDS))


def examples(
    n: int, seed: int, pools: NamePools, lexicon: Lexicon
) -> tuple[list[list[str]], list[int]]:
    rng = random.Random(seed)
    fake = Faker(["en_US", "en_GB", "en_IN", "de_DE", "fr_FR", "es_ES"])
    fake.seed_instance(seed)
    fill = fillers(rng, fake)
    rows: list[list[str]] = []
    labels: list[int] = []
    for _ in range(n):
        text, spans = sentence(rng, pools, fill, named=rng.random() < 0.7)
        matches = tokenize(text)
        rows.extend(token_features([m.group() for m in matches], lexicon))
        for m in matches:
            inside = any(s <= m.start() and m.end() <= e for s, e in spans)
            labels.append(int(inside and any(c.isalpha() for c in m.group())))
    return rows, labels


def matrix(rows: list[list[str]], vocab: dict[str, int]) -> csr_matrix:
    indptr, indices = [0], []
    for row in rows:
        ids = sorted({vocab[f] - 1 for f in row if f in vocab})
        indices.extend(ids)
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    return csr_matrix((data, indices, indptr), shape=(len(rows), len(vocab)))


def export(weights: np.ndarray[Any, Any], bias: float) -> bytes:
    table = np.concatenate([[0.0], weights]).astype(np.float32).reshape(-1, 1)
    nodes = [
        helper.make_node("Gather", ["weights", "ids"], ["picked"], axis=0),
        helper.make_node("ReduceSum", ["picked", "axes"], ["summed"], keepdims=0),
        helper.make_node("Add", ["summed", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes,
        "name_tagger",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [None, None])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None])],
        [
            onnx.numpy_helper.from_array(table, "weights"),
            onnx.numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes"),
            onnx.numpy_helper.from_array(np.array([bias], dtype=np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def f2_threshold(
    probs: np.ndarray[Any, Any], labels: np.ndarray[Any, Any]
) -> tuple[float, dict[str, float]]:
    best: tuple[float, float, dict[str, float]] = (0.0, 0.5, {})
    for t in np.arange(0.2, 0.81, 0.05):
        pred = probs >= t
        tp = float((pred & (labels == 1)).sum())
        p = tp / max(pred.sum(), 1)
        r = tp / max((labels == 1).sum(), 1)
        f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
        if f2 > best[0]:
            metrics = {"precision": round(p, 4), "recall": round(r, 4), "f2": round(f2, 4)}
            best = (f2, round(float(t), 2), metrics)
    return best[1], best[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--sentences", type=int, default=40000)
    parser.add_argument("--c", type=float, default=0.5)
    args = parser.parse_args()
    pools = name_pools()
    common = common_words()
    rng = random.Random(SEED)
    train_lex = Lexicon(gazetteer(pools, rng), common)
    valid_lex = Lexicon(gazetteer(pools, rng), common)
    rows, labels = examples(args.sentences, SEED, pools, train_lex)
    counts = Counter(f for row in rows for f in row)
    features = sorted(f for f, c in counts.items() if c >= 2)
    vocab = {f: i + 1 for i, f in enumerate(features)}
    x, y = matrix(rows, vocab), np.array(labels)
    model = LogisticRegression(C=args.c, solver="liblinear", max_iter=500, random_state=SEED)
    model.fit(x, y)
    # Features whose weight is near zero change no decision: dropped, the rest kept in order.
    weights = model.coef_[0]
    kept = [f for f in features if abs(weights[vocab[f] - 1]) >= PRUNE]
    kept_weights = np.array([weights[vocab[f] - 1] for f in kept])
    bias = float(model.intercept_[0])
    v_rows, v_labels = examples(args.sentences // 4, SEED + 1, pools, valid_lex)
    full_probs = model.predict_proba(matrix(v_rows, vocab))[:, 1]
    features, vocab = kept, {f: i + 1 for i, f in enumerate(kept)}
    v_probs = 1 / (1 + np.exp(-(matrix(v_rows, vocab) @ kept_weights + bias)))
    pruning_delta = float(np.abs(v_probs - full_probs).max())
    print(f"pruned to {len(kept)} features; largest probability change {pruning_delta:.4f}")
    threshold, valid = f2_threshold(v_probs, np.array(v_labels))
    print(f"{len(rows)} tokens, {len(features)} features; validation {valid} at {threshold}")

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    blob = export(kept_weights, bias)
    (out / "model.onnx").write_bytes(blob)
    (out / "features.txt").write_text("\n".join(features) + "\n", encoding="utf-8")
    full = gazetteer(pools, None)
    (out / "names.tsv").write_text(
        "".join(f"{n}\t{c}\n" for n, c in sorted(full.items())), encoding="utf-8"
    )
    (out / "common.txt").write_text("\n".join(sorted(common)) + "\n", encoding="utf-8")
    meta = {
        "name": "name-tagger",
        "version": VERSION,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "threshold": threshold,
        "validation_token_metrics": valid,
        "training": {
            "sentences": args.sentences,
            "tokens": len(rows),
            "features": len(features),
            "pruned_below": PRUNE,
            "pruning_max_probability_change": round(pruning_delta, 4),
            "c": args.c,
            "gazetteer_dropout": DROP,
            "seed": SEED,
            "locales": sorted(pools.by_locale),
            "gazetteer_names": len(full),
        },
        "framework": {
            "scikit-learn": sklearn.__version__,
            "faker": faker.VERSION,
            "onnx": onnx.__version__,
        },
        "inputs": [{"name": "ids", "shape": [None, None], "note": "feature ids a token, 0: pad"}],
        "outputs": [{"name": "probability", "shape": [None]}],
    }
    (out / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
