"""Injection screening as the guard step uses it: the rules and, when available, the learned
classifier, combined into one ``Verdict`` (the higher score counts; ``fired`` says which)."""

from __future__ import annotations

from outrigger.guard.base import InjectionClassifier
from outrigger.guard.classifier import open_classifier
from outrigger.guard.injection import InjectionDetector, Verdict


class CombinedScreen:
    def __init__(
        self, detector: InjectionDetector, classifier: InjectionClassifier | None = None
    ) -> None:
        self.detector = detector
        self.classifier = classifier

    def screen(self, text: str) -> Verdict:
        rules = self.detector.screen(text)
        if self.classifier is None:
            return rules
        learned = self.classifier.score(text)
        return Verdict(max(rules.score, learned), rules.hits, classifier=learned)


def open_screen(classifier: bool = True) -> CombinedScreen:
    """The rules, with the bundled classifier unless ``classifier`` is false (or it cannot
    be loaded: then a warning, and the rules alone)."""
    return CombinedScreen(InjectionDetector(), open_classifier() if classifier else None)
