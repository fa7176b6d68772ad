"""Text that cannot leave as UTF-8.

JSON's ``\\ud800`` escape decodes to a lone surrogate: a Python ``str`` that no UTF-8 encoder
accepts. It would reach the provider (JSON encoders escape it again) and then break every
hash, cache key and tokenizer after the answer came back. The gateway's request models and
the proxy's first step refuse it up front with ``unencodable``.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def unencodable(value: Any, path: str = "") -> str | None:
    """Where the first string in ``value`` (nested dicts and lists, keys included) that UTF-8
    cannot encode is, as a JSON path (``messages[0].content``), or None when there is none."""
    if isinstance(value, str):
        return None if value.isascii() or not _SURROGATE.search(value) else (path or "$")
    if isinstance(value, dict):
        for key, item in value.items():
            name = printable(str(key))
            where = f"{path}.{name}" if path else name
            if unencodable(key) is not None:
                return where
            found = unencodable(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = unencodable(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def refusal(where: str) -> str:
    """The message a caller gets for text found at ``where``."""
    return f"{where}: text must be valid UTF-8 (a lone surrogate such as \\ud800 is not)"


def printable(text: str) -> str:
    """``text`` with any lone surrogate written as its escape (safe to encode and log)."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
