"""The seams of injection screening: a learned classifier, and a screen (what the guard
step asks for one text's verdict)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from outrigger.guard.injection import Verdict


class InjectionClassifier(Protocol):
    """A learned injection score in [0, 1] for one text, on the policy's scale (the bundled
    model is calibrated so that 0.5 is its flag threshold and 0.9 its block threshold)."""

    @property
    def version(self) -> str: ...

    def score(self, text: str) -> float: ...


class InjectionScreen(Protocol):
    """One text's verdict: a score in [0, 1] and what fired."""

    def screen(self, text: str) -> Verdict: ...
