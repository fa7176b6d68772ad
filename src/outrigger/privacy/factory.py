"""Build the detectors from configuration, once at start-up."""

from __future__ import annotations

from typing import Literal

from outrigger.privacy.base import Detector
from outrigger.privacy.fast import RegexDetector
from outrigger.privacy.policy import PrivacyConfig


def open_detector(config: PrivacyConfig, mode: Literal["full", "fast"] = "full") -> Detector:
    """``fast``: regex only (no extra needed). ``full``: Presidio + spaCy (``privacy`` extra;
    loading takes a few seconds, so build it once and share it)."""
    if mode == "fast":
        return RegexDetector(score_threshold=config.fast_score_threshold)
    from outrigger.privacy.presidio_detector import PresidioDetector

    return PresidioDetector.build(config.spacy_model, config.ner_labels, config.score_threshold)
