"""Presidio recognisers of our own. Imports Presidio: load only through ``presidio_detector``.

* ``OfflineEmailRecognizer``: Presidio's email recogniser validates the domain with
  ``tldextract``, whose module-level extractor downloads the Public Suffix List on first use.
  This one is handed an extractor built with no suffix-list URLs and no cache directory, so
  it reads the snapshot bundled with tldextract and never touches the network.
* ``SpecRecognizer``: runs our ``PatternSpec``s (the fast mode's matcher) inside Presidio, so
  custom entities behave the same in both modes.
"""

from __future__ import annotations

from collections.abc import Sequence

import tldextract
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer

from outrigger.privacy.fast import match_spec
from outrigger.privacy.patterns import PatternSpec


def offline_tld_extractor() -> tldextract.TLDExtract:
    """A ``TLDExtract`` that uses only the suffix-list snapshot shipped in the package."""
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    def __init__(self, extractor: tldextract.TLDExtract) -> None:
        self._extractor = extractor
        super().__init__()

    def validate_result(self, pattern_text: str) -> bool:
        return self._extractor(pattern_text).fqdn != ""


class SpecRecognizer(EntityRecognizer):
    def __init__(self, name: str, specs: Sequence[PatternSpec]) -> None:
        self._specs = tuple(specs)
        entities = sorted({spec.entity for spec in specs})
        super().__init__(supported_entities=entities, name=name, supported_language="en")

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        wanted = set(entities) if entities else None
        results: list[RecognizerResult] = []
        for spec in self._specs:
            if wanted is not None and spec.entity not in wanted:
                continue
            for span in match_spec(spec, text):
                results.append(RecognizerResult(span.entity_type, span.start, span.end, span.score))
        return results
