"""The ``Detector`` contract, written once and run against every PII detector: sorted,
non-overlapping spans inside the text, the ``entities`` filter honoured, the structured
identifiers every mode must find, names where the mode promises them, and the same answer
from several threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import ClassVar

import pytest

from outrigger.privacy import Detector, PrivacyConfig, open_detector
from outrigger.privacy.policy import NAME_MODES, Mode

TEXT = (
    "Patient Ramesh Iyer (MRN 00482913, born on 12/03/1985) wrote from "
    "ramesh.iyer@example.com; card 4111 1111 1111 1111, phone +91 98765 43210."
)
STRUCTURED = {
    "MEDICAL_RECORD_NUMBER": "00482913",
    "DATE_OF_BIRTH": "12/03/1985",
    "EMAIL_ADDRESS": "ramesh.iyer@example.com",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "PHONE_NUMBER": "+91 98765 43210",
}
NAMES = ["Maria Gonzalez called about her loan.", "Forward it to Hiroshi Tanaka, please."]


class DetectorContract:
    mode: ClassVar[Mode]
    _cache: ClassVar[dict[str, Detector]] = {}

    def build(self) -> Detector:
        """One detector per mode for the whole session (the full one loads for seconds)."""
        if self.mode not in self._cache:
            self._cache[self.mode] = open_detector(PrivacyConfig(), self.mode)
        return self._cache[self.mode]

    @pytest.fixture
    def detector(self) -> Detector:
        return self.build()

    def test_spans_are_sorted_disjoint_and_inside_the_text(self, detector: Detector) -> None:
        spans = detector.detect(TEXT)
        assert spans == sorted(spans, key=lambda s: s.start)
        for a, b in pairwise(spans):
            assert a.end <= b.start
        assert all(0 <= s.start < s.end <= len(TEXT) for s in spans)
        assert all(0.0 <= s.score <= 1.0 for s in spans)

    def test_structured_identifiers_are_found(self, detector: Detector) -> None:
        found = {(s.entity_type, TEXT[s.start : s.end]) for s in detector.detect(TEXT)}
        for kind, value in STRUCTURED.items():
            assert (kind, value) in found

    def test_entities_filter(self, detector: Detector) -> None:
        only = frozenset({"EMAIL_ADDRESS"})
        assert {s.entity_type for s in detector.detect(TEXT, only)} == {"EMAIL_ADDRESS"}
        assert detector.detect(TEXT, frozenset()) == []

    def test_empty_and_plain_text(self, detector: Detector) -> None:
        assert detector.detect("") == []
        assert detector.detect("the refund is still pending") == []

    def test_person_names_where_the_mode_finds_them(self, detector: Detector) -> None:
        found = [
            [t[s.start : s.end] for s in detector.detect(t) if s.entity_type == "PERSON"]
            for t in NAMES
        ]
        if self.mode in NAME_MODES:
            assert found == [["Maria Gonzalez"], ["Hiroshi Tanaka"]]
        else:
            assert found == [[], []]  # fast mode: names only after a cue ("Dr.", "Name:")

    def test_concurrent_calls_agree(self, detector: Detector) -> None:
        texts = [TEXT, *NAMES] * 8
        expected = [detector.detect(t) for t in texts]
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(detector.detect, texts)) == expected


class TestFastDetector(DetectorContract):
    mode = "fast"


class TestStandardDetector(DetectorContract):
    mode = "standard"


class TestPresidioDetector(DetectorContract):
    mode = "full"

    @pytest.fixture
    def detector(self) -> Detector:
        from tests.integration.test_presidio import require_privacy_extra

        require_privacy_extra()
        return self.build()
