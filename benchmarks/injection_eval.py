"""Prompt-injection screening: true- and false-positive rates on a labelled set.

    python benchmarks/injection_eval.py [--data FILE.jsonl ...] [--threshold 0.5] [--json] [-v]

Labelled sets are JSON Lines ``{"text", "injection": true|false}``: attacks (overrides, role
play, spoofed system turns, prompt leaks, exfiltration, encoded and obfuscated payloads, some
in other languages, indirect ones hidden in tickets) and ordinary support tickets full of
trigger words ("ignore", "system", "instructions", "developer mode", "prompt"). The default is
the four in-repo sets, reported one by one and together, written in this order:

* ``injection_set``: the development set the heuristics were written against;
* ``injection_holdout``, ``injection_holdout2``: each written fresh, measured, then used to
  generalise the rules (so no longer unseen);
* ``injection_holdout3``: written after the last rule change and never tuned on: the honest
  figure for text the rules have not seen (``tpr_unseen``, ``fpr_unseen``).

A text is flagged when its score reaches ``--threshold`` (``InjectionPolicy``'s default).
``-v`` lists the errors.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from outrigger.guard.injection import InjectionDetector, InjectionPolicy

DATA = Path(__file__).parent / "data"
DEFAULT_SETS = [
    DATA / f"{name}.jsonl"
    for name in ("injection_set", "injection_holdout", "injection_holdout2", "injection_holdout3")
]
UNSEEN = "injection_holdout3"


def load(path: Path) -> list[tuple[str, bool]]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["text"], bool(r["injection"])) for r in records]


def evaluate(
    detector: InjectionDetector, data: list[tuple[str, bool]], threshold: float, verbose: bool
) -> dict[str, Any]:
    tp = fp = fn = tn = 0
    start = time.perf_counter()
    verdicts = [detector.screen(text) for text, _ in data]
    elapsed = time.perf_counter() - start
    for (text, label), verdict in zip(data, verdicts, strict=True):
        flagged = verdict.score >= threshold
        tp += flagged and label
        fp += flagged and not label
        fn += label and not flagged
        tn += not label and not flagged
        if verbose and flagged != label:
            kind = "FP" if flagged else "FN"
            print(f"{kind} {verdict.score:.2f} {verdict.rules} {text[:100]!r}")
    positives, negatives = tp + fn, fp + tn
    return {
        "tpr": round(tp / positives, 4) if positives else None,
        "fpr": round(fp / negatives, 4) if negatives else None,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "positives": positives,
        "negatives": negatives,
        "threshold": threshold,
        "texts_per_s": round(len(data) / elapsed, 1),
    }


def show(name: str, figures: dict[str, Any]) -> None:
    print(
        f"{name:20s} TPR {figures['tpr']:.3f} ({figures['positives']:3d} injections)   "
        f"FPR {figures['fpr']:.3f} ({figures['negatives']:3d} benign)   "
        f"{figures['texts_per_s']:,.0f} texts/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, action="append", help="JSONL labelled set")
    parser.add_argument("--threshold", type=float, default=InjectionPolicy().threshold)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    detector = InjectionDetector()
    paths = args.data or DEFAULT_SETS
    sets = {path.stem: load(path) for path in paths}
    per_set = {}
    for name, data in sets.items():
        per_set[name] = evaluate(detector, data, args.threshold, args.verbose)
        show(name, per_set[name])
    everything = [record for data in sets.values() for record in data]
    figures = evaluate(detector, everything, args.threshold, verbose=False)
    show("all", figures)
    figures["sets"] = {name: {"tpr": f["tpr"], "fpr": f["fpr"]} for name, f in per_set.items()}
    if UNSEEN in per_set:
        figures["tpr_unseen"] = per_set[UNSEEN]["tpr"]
        figures["fpr_unseen"] = per_set[UNSEEN]["fpr"]
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
