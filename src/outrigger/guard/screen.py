"""Injection screening as the guard step uses it: the rules and, when available, the learned
classifier, combined into one ``Verdict`` (the higher score counts; ``fired`` says which)."""

from __future__ import annotations

from outrigger.guard.base import InjectionClassifier, InjectionScreen
from outrigger.guard.classifier import open_classifier
from outrigger.guard.injection import InjectionDetector, Verdict
from outrigger.memo import TextMemo


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


class MemoScreen:
    """A screen whose verdicts are kept per text (``memo.TextMemo``): a text screened once
    gets the same verdict again without the rules and the classifier running."""

    def __init__(self, screen: InjectionScreen, entries: int) -> None:
        self.inner = screen
        self.memo: TextMemo[Verdict] = TextMemo(entries)

    def screen(self, text: str) -> Verdict:
        return self.memo.get(text, self.inner.screen)


def open_screen(classifier: bool = True, memo_entries: int = 0) -> InjectionScreen:
    """The rules, with the bundled classifier unless ``classifier`` is false (or it cannot
    be loaded: then a warning, and the rules alone); verdicts kept for ``memo_entries``
    texts (0: none)."""
    screen = CombinedScreen(InjectionDetector(), open_classifier() if classifier else None)
    return MemoScreen(screen, memo_entries) if memo_entries else screen
