"""PII detection quality and speed: precision, recall and F2 per entity type, docs/s.

    python benchmarks/pii_eval.py [--data FILE.jsonl] [--mode all|standard|full|fast|vanilla|spacy]
                                  [--per-set] [--json]

The labelled set (JSON Lines ``{"text", "spans": [{"start", "end", "type"}]}``) defaults to
``benchmarks/data/pii_synthetic.jsonl`` (templates filled by a seeded Faker),
``pii_handwritten.jsonl`` (hand-labelled Indian and US healthcare sentences) and
``pii_holdout.jsonl`` (hand-labelled, other formats, written after the recognisers were last
changed); ``benchmarks/data/make_pii_set.py`` regenerates them.

Matching: a gold span is found when a predicted span of the same type overlaps it; a predicted
span is correct when it overlaps a gold span of the same type. F2 weighs recall twice as much
as precision (a missed identifier leaks; an extra placeholder costs little). ``structured`` is
every type but PERSON, micro-averaged. Speed is single-process, one document at a time, after
a warm-up, so docs/s is per core (pin it with ``taskset -c N`` and note the load).

``--mode all`` (the default) runs the default mode (``standard``) first, then ``full`` (when
the ``privacy`` extra is installed) and ``fast``, in one process: the JSON's unsuffixed keys
(``f2_structured``, ``f2_overall``, ``f2_per_type``, ``docs_per_s``) are the default mode's,
the others carry a ``_full`` / ``_fast`` suffix. ``--per-set`` adds every file's figures.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outrigger.errors import MissingExtraError
from outrigger.privacy import STRUCTURED, Detector, PrivacyConfig, Span, open_detector

DATA = Path(__file__).parent / "data"
DEFAULT_SETS = [DATA / f"pii_{name}.jsonl" for name in ("synthetic", "handwritten", "holdout")]
DEFAULT_MODE = PrivacyConfig().default.mode


@dataclass
class Doc:
    text: str
    gold: list[Span]


def load(paths: Sequence[Path]) -> list[Doc]:
    docs = []
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                gold = [Span(s["start"], s["end"], s["type"], 1.0) for s in record["spans"]]
                docs.append(Doc(record["text"], gold))
    return docs


def _hits(spans: list[Span], others: list[Span]) -> list[bool]:
    return [any(s.entity_type == o.entity_type and s.overlaps(o) for o in others) for s in spans]


def score(docs: list[Doc], predicted: list[list[Span]], types: set[str]) -> dict[str, Any]:
    tp_p, fp, tp_r, fn = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    for doc, found in zip(docs, predicted, strict=True):
        pred = [p for p in found if p.entity_type in types]
        for span, hit in zip(pred, _hits(pred, doc.gold), strict=True):
            (tp_p if hit else fp)[span.entity_type] += 1
        for span, hit in zip(doc.gold, _hits(doc.gold, pred), strict=True):
            (tp_r if hit else fn)[span.entity_type] += 1
    per_type = {t: _prf(tp_p[t], fp[t], tp_r[t], fn[t]) for t in sorted(types)}
    structured = types & STRUCTURED

    def total(counter: Counter[str], among: set[str]) -> int:
        return sum(counter[t] for t in among)

    return {
        "per_type": per_type,
        "structured": _prf(*(total(c, structured) for c in (tp_p, fp, tp_r, fn))),
        "overall": _prf(*(total(c, types) for c in (tp_p, fp, tp_r, fn))),
    }


def _prf(tp_p: int, fp: int, tp_r: int, fn: int) -> dict[str, float]:
    precision = tp_p / (tp_p + fp) if tp_p + fp else 1.0
    recall = tp_r / (tp_r + fn) if tp_r + fn else 1.0
    beta2 = 4.0
    denom = beta2 * precision + recall
    f2 = (1 + beta2) * precision * recall / denom if denom else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f2": round(f2, 4),
        "support": tp_r + fn,
    }


class VanillaPresidio:
    """For comparison: Presidio's default recognisers (no custom ones, no noise filtering) on
    the same spaCy model. Its email recogniser may try to fetch tldextract's suffix list."""

    def __init__(self, model: str) -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
        engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
        self._analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])

    def detect(self, text: str, entities: frozenset[str] | None = None) -> list[Span]:
        results = self._analyzer.analyze(text=text, language="en")
        return [Span(r.start, r.end, r.entity_type, r.score) for r in results]


class SpacyNer:
    """For comparison (option (a) of #14 item 3): the regex recognisers + spaCy's NER alone
    (``tok2vec`` + ``ner``, every other pipe excluded, no Presidio). ``batched_docs_per_s``
    measures ``nlp.pipe`` over many texts at once, as a request with several messages could.
    ``skippable`` is the share of texts a prefilter could pass without NER: no capitalised word
    outside a sentence start."""

    def __init__(self, model: str, threshold: float) -> None:
        import spacy

        from outrigger.privacy import RegexDetector

        keep = {"tok2vec", "ner"}
        self._nlp = spacy.load(
            model, exclude=[p for p in spacy.load(model).pipe_names if p not in keep]
        )
        self._regex = RegexDetector(score_threshold=threshold)

    def _names(self, doc: Any) -> list[Span]:
        return [
            Span(e.start_char, e.end_char, "PERSON", 0.85)
            for e in doc.ents
            if e.label_ == "PERSON" and not any(c.isdigit() or c in "@:" for c in e.text)
        ]

    def detect(self, text: str, entities: frozenset[str] | None = None) -> list[Span]:
        from outrigger.privacy.base import resolve_overlaps

        return resolve_overlaps([*self._regex.detect(text), *self._names(self._nlp(text))])

    @staticmethod
    def skippable(texts: list[str]) -> float:
        """The share of texts with no capitalised word outside a sentence start."""

        def candidate(text: str) -> bool:
            words = text.split()
            return any(
                w[:1].isupper() and i > 0 and words[i - 1][-1:] not in ".!?"
                for i, w in enumerate(words)
            )

        return sum(not candidate(t) for t in texts) / len(texts)

    def batched_docs_per_s(self, texts: list[str]) -> float:
        start = time.perf_counter()
        for doc in self._nlp.pipe(texts, batch_size=64):
            self._names(doc)
        return len(texts) / (time.perf_counter() - start)


def run(detector: Detector, docs: list[Doc]) -> tuple[list[list[Span]], float]:
    for doc in docs[:20]:
        detector.detect(doc.text)
    start = time.perf_counter()
    predicted = [detector.detect(doc.text) for doc in docs]
    return predicted, len(docs) / (time.perf_counter() - start)


def report(mode: str, result: dict[str, Any], docs_per_s: float) -> None:
    print(f"\n== {mode} mode: {docs_per_s:,.0f} docs/s")
    print(f"{'type':24s} {'precision':>9s} {'recall':>7s} {'F2':>6s} {'support':>7s}")
    rows = {
        **result["per_type"],
        "STRUCTURED (micro)": result["structured"],
        "OVERALL (micro)": result["overall"],
    }
    for name, m in rows.items():
        print(
            f"{name:24s} {m['precision']:9.3f} {m['recall']:7.3f} {m['f2']:6.3f} {m['support']:7d}"
        )


def _detector(mode: str, config: PrivacyConfig) -> Detector | None:
    if mode == "vanilla":
        return VanillaPresidio(config.spacy_model)
    if mode == "spacy":
        return SpacyNer(config.spacy_model, config.fast_score_threshold)
    try:
        return open_detector(config, mode)  # type: ignore[arg-type]
    except MissingExtraError as exc:
        print(f"\n== {mode} mode skipped: {exc}")
        return None


def _figures(result: dict[str, Any], docs_per_s: float, suffix: str) -> dict[str, Any]:
    return {
        f"f2_structured{suffix}": result["structured"]["f2"],
        f"f2_overall{suffix}": result["overall"]["f2"],
        f"f2_per_type{suffix}": {t: m["f2"] for t, m in result["per_type"].items()},
        f"docs_per_s{suffix}": round(docs_per_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, action="append", help="JSONL labelled set")
    parser.add_argument(
        "--mode", choices=["all", "standard", "full", "fast", "vanilla", "spacy"], default="all"
    )
    parser.add_argument("--per-set", action="store_true", help="figures for every file too")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    paths = args.data or DEFAULT_SETS
    docs = load(paths)
    types = {s.entity_type for d in docs for s in d.gold}
    config = PrivacyConfig()
    figures: dict[str, Any] = {
        "default_mode": DEFAULT_MODE,
        "docs": len(docs),
        "spans": sum(len(d.gold) for d in docs),
    }
    modes = [DEFAULT_MODE, "full", "fast"] if args.mode == "all" else [args.mode]
    for mode in modes:
        detector = _detector(mode, config)
        if detector is None:
            continue
        predicted, docs_per_s = run(detector, docs)
        result = score(docs, predicted, types)
        report(mode, result, docs_per_s)
        suffix = "" if mode == DEFAULT_MODE else f"_{mode}"
        figures.update(_figures(result, docs_per_s, suffix))
        if isinstance(detector, SpacyNer):
            batched = detector.batched_docs_per_s([d.text for d in docs])
            figures["docs_per_s_spacy_batched"] = round(batched, 1)
            figures["spacy_prefilter_skippable"] = round(
                SpacyNer.skippable([d.text for d in docs]), 4
            )
            print(
                f"spaCy NER batched (nlp.pipe): {batched:,.0f} docs/s; prefilter could skip "
                f"{figures['spacy_prefilter_skippable']:.1%} of the texts"
            )
        if args.per_set:
            for path in paths:
                part = load([path])
                part_types = {s.entity_type for d in part for s in d.gold}
                found, part_speed = run(detector, part)
                part_result = score(part, found, part_types)
                figures.setdefault("sets", {}).setdefault(path.stem, {}).update(
                    _figures(part_result, part_speed, suffix)
                )
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
