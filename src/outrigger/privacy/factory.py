"""Build the detectors from configuration, once at start-up."""

from __future__ import annotations

from outrigger.privacy.base import Detector
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
