"""The evaluation-only injection sets shipped in PyPI packages (the ``train`` extra).

``bastioncorpus`` (MIT; 181 rows: 118 attacks, 63 benign "false-positive traps"; en, de, fr,
es, it) and ``jailbreak-corpus-mini-py`` (MIT; 15 attacks, English, no benign rows) are never
trained, tuned or thresholded on: ``scripts/train_injection.py`` only reads them to drop their
near-duplicates from its training data, and ``benchmarks/injection_eval.py --eval-packages``
reports on them.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

#: One labelled text: the text, whether it is an injection, and its language ("" unknown).
Row = tuple[str, bool, str]


def bastion_rows() -> list[Row]:
    """bastioncorpus's rows, the ``{canary}`` slot removed."""
    path = resources.files("bastioncorpus") / "corpus" / "injections.jsonl"
    rows: list[Row] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record: dict[str, Any] = json.loads(line)
        text = " ".join(str(record["text"]).replace("{canary}", "").split())
        rows.append((text, record["label"] == "malicious", str(record.get("lang") or "")))
    return rows


def jailbreak_mini_rows() -> list[Row]:
    """jailbreak-corpus-mini-py's prompts: all attacks, English."""
    path = resources.files("jailbreak_corpus_mini") / "corpus.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    return [(str(r["prompt"]), True, "en") for r in records]


def eval_package_sets() -> dict[str, list[Row]]:
    return {"bastioncorpus": bastion_rows(), "jailbreak_corpus_mini": jailbreak_mini_rows()}
