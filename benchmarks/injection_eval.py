"""Prompt-injection screening: true- and false-positive rates on labelled sets, and latency.

    python benchmarks/injection_eval.py [--data FILE.jsonl ...] [--eval-packages]
        [--rules-only] [--threshold 0.5] [--block-threshold 0.9] [--json] [-v]

The screen is the proxy's: the rules and the bundled ONNX classifier, the higher score
counting (``--rules-only``: the rules alone, as before the classifier). A text counts as
caught when its score reaches ``--threshold`` (the policy's flag threshold); ``block_tpr``
and ``block_fpr`` are the rates at ``--block-threshold`` (the policy's default block).

Labelled sets are JSON Lines ``{"text", "injection": true|false}``, optionally ``"lang"``
(then figures per language too). The default sets, reported one by one and together:

* ``injection_set``: the development set the heuristics were written against (and the one
  whose classifier false positives the synthetic training tickets were written after);
* ``injection_holdout``, ``injection_holdout2``: each written fresh, measured, then used to
  generalise the rules (so no longer unseen);
* ``injection_holdout3``: written after the last rule change and never tuned on: the honest
  figure for text the rules have not seen (``tpr_unseen``, ``fpr_unseen``);
* ``injection_heldout_test``: the classifier's test split (public data plus synthetic
  tickets), kept out of its training and threshold choice;
* ``injection_hindi_probe``: 36 texts in Hindi (Devanagari, ``hi``) and romanised Hindi
  (``hi-latn``), attacks and benign tickets, written to say what happens with Hindi.

``--eval-packages`` adds ``bastioncorpus`` and ``jailbreak-corpus-mini-py`` (evaluation only:
never trained or tuned on; the latter has attacks only, so TPR only). Timing: one message at a
time, ONNX Runtime on one thread; ``p50_ms`` is the median per message. ``-v`` lists errors.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))
from benchmarks.injection_packages import Row, eval_package_sets

from outrigger.guard import InjectionPolicy, open_screen
from outrigger.guard.base import InjectionScreen

DATA = Path(__file__).parent / "data"
DEFAULT_SETS = [
    DATA / f"{name}.jsonl"
    for name in (
        "injection_set",
        "injection_holdout",
        "injection_holdout2",
        "injection_holdout3",
        "injection_heldout_test",
        "injection_hindi_probe",
    )
]
UNSEEN = "injection_holdout3"


def load(path: Path) -> list[Row]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["text"], bool(r["injection"]), str(r.get("lang") or "")) for r in records]


def rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def counts(scored: list[tuple[float, bool]], cut: float) -> dict[str, Any]:
    tp = sum(s >= cut and label for s, label in scored)
    fp = sum(s >= cut and not label for s, label in scored)
    positives = sum(label for _, label in scored)
    negatives = len(scored) - positives
    return {"tp": tp, "fp": fp, "positives": positives, "negatives": negatives}


def evaluate(
    screen: InjectionScreen, data: list[Row], cuts: tuple[float, float], verbose: bool
) -> dict[str, Any]:
    times, scored = [], []
    by_lang: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for text, label, lang in data:
        start = time.perf_counter()
        verdict = screen.screen(text)
        times.append(time.perf_counter() - start)
        scored.append((verdict.score, label))
        if lang:
            by_lang[lang].append((verdict.score, label))
        if verbose and (verdict.score >= cuts[0]) != label:
            kind = "FP" if not label else "FN"
            print(f"{kind} {verdict.score:.2f} {verdict.fired} {verdict.rules} {text[:100]!r}")
    flag, block = counts(scored, cuts[0]), counts(scored, cuts[1])
    figures: dict[str, Any] = {
        "tpr": rate(flag["tp"], flag["positives"]),
        "fpr": rate(flag["fp"], flag["negatives"]),
        **flag,
        "block_tpr": rate(block["tp"], block["positives"]),
        "block_fpr": rate(block["fp"], block["negatives"]),
        "block_tp": block["tp"],
        "block_fp": block["fp"],
        "threshold": cuts[0],
        "block_threshold": cuts[1],
        "texts_per_s": round(len(data) / sum(times), 1) if times else None,
        "p50_ms": round(statistics.median(times) * 1000, 3) if times else None,
    }
    if len(by_lang) > 1 or (by_lang and set(by_lang) != {"en"}):
        figures["languages"] = {}
        for lang, rows in sorted(by_lang.items()):
            c = counts(rows, cuts[0])
            figures["languages"][lang] = {
                "tpr": rate(c["tp"], c["positives"]),
                "fpr": rate(c["fp"], c["negatives"]),
                **c,
            }
    return figures


def show(name: str, f: dict[str, Any]) -> None:
    def pct(value: float | None) -> str:
        return "  n/a" if value is None else f"{value:.3f}"

    print(
        f"{name:24s} TPR {pct(f['tpr'])} ({f['tp']:4d}/{f['positives']:4d})  "
        f"FPR {pct(f['fpr'])} ({f['fp']:3d}/{f['negatives']:4d})  "
        f"block TPR {pct(f['block_tpr'])} FPR {pct(f['block_fpr'])}  "
        f"p50 {f['p50_ms']:.2f} ms  {f['texts_per_s']:,.0f} texts/s"
    )
    for lang, g in f.get("languages", {}).items():
        print(
            f"  {lang:22s} TPR {pct(g['tpr'])} ({g['tp']:4d}/{g['positives']:4d})  "
            f"FPR {pct(g['fpr'])} ({g['fp']:3d}/{g['negatives']:4d})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, action="append", help="JSONL labelled set")
    parser.add_argument("--eval-packages", action="store_true", help="bastioncorpus, jcm")
    parser.add_argument("--rules-only", action="store_true", help="without the classifier")
    parser.add_argument("--threshold", type=float, default=InjectionPolicy().flag_threshold)
    parser.add_argument("--block-threshold", type=float, default=InjectionPolicy().block_threshold)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    screen = open_screen(classifier=not args.rules_only)
    cuts = (args.threshold, args.block_threshold)
    sets = {path.stem: load(path) for path in args.data or DEFAULT_SETS}
    if args.eval_packages:
        sets.update(eval_package_sets())
    per_set = {}
    for name, data in sets.items():
        per_set[name] = evaluate(screen, data, cuts, args.verbose)
        show(name, per_set[name])
    everything = [record for data in sets.values() for record in data]
    figures = evaluate(screen, everything, cuts, verbose=False)
    figures.pop("languages", None)
    show("all", figures)
    figures["classifier"] = not args.rules_only
    figures["sets"] = per_set
    if UNSEEN in per_set:
        figures["tpr_unseen"] = per_set[UNSEEN]["tpr"]
        figures["fpr_unseen"] = per_set[UNSEEN]["fpr"]
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
