"""Build the detectors from configuration, once at start-up."""

from __future__ import annotations

from outrigger.memo import TextMemo
from outrigger.privacy.base import Detector, Span
from outrigger.privacy.fast import RegexDetector
from outrigger.privacy.policy import Mode, PrivacyConfig


def open_detector(config: PrivacyConfig, mode: Mode = "standard") -> Detector:
    """``standard``: regex + the bundled ONNX name tagger (no extra needed, ~0.1 s to load).
    ``fast``: regex only. ``full``: Presidio + spaCy (``privacy`` extra; loading takes a few
    seconds). Build each once and share it."""
    if mode == "fast":
        return RegexDetector(score_threshold=config.fast_score_threshold)
    if mode == "standard":
        from outrigger.privacy.standard import StandardDetector

        return StandardDetector.build(config.fast_score_threshold)
    from outrigger.privacy.presidio_detector import PresidioDetector

    return PresidioDetector.build(config.spacy_model, config.ner_labels, config.score_threshold)


class MemoDetector:
    """``detector`` with its spans kept in ``memo`` per (scope, text, entities): offsets and
    types only, never the text. The scope (the proxy's tenant) keeps one tenant's texts from
    making another's calls faster, which a caller could time."""

    def __init__(self, detector: Detector, memo: TextMemo[tuple[Span, ...]], scope: str) -> None:
        self.inner = detector
        self.memo = memo
        self.scope = scope

    def detect(self, text: str, entities: frozenset[str] | None = None) -> list[Span]:
        found = self.memo.get(
            text, lambda t: tuple(self.inner.detect(t, entities)), extra=(self.scope, entities)
        )
        return list(found)
