"""Re-hydration of a streamed answer, where a placeholder may arrive split across chunks.

``feed`` returns the text that is safe to emit: everything up to a trailing fragment that
could still become a known placeholder (``…<PER`` waits for ``SON_1>``). ``flush`` returns
what is left at the end of the stream. The concatenated output equals re-hydrating the whole
answer at once, wherever the chunks were cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from outrigger.privacy.vault import Vault


class StreamRehydrator:
    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._held = ""

    def feed(self, chunk: str) -> str:
        text = self._held + chunk
        cut = self._hold_from(text)
        self._held = text[cut:]
        return self._vault.rehydrate(text[:cut])

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self._vault.rehydrate(text)

    def _hold_from(self, text: str) -> int:
        """Where the trailing fragment that may still become a placeholder starts."""
        start = text.rfind("<")
        if start < 0 or ">" in text[start:]:
            return len(text)
        tail = text[start:]
        if any(p.startswith(tail) for p in self._vault.placeholders()):
            return start
        return len(text)
