"""Dotted field paths with wildcards, for declaring sensitive event fields.

``customer.email``, ``items[0].card``, ``items[*].card`` (every list item) and
``contacts.*.phone`` (every key of a mapping).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

WILDCARD: Final = "*"
DROP: Final = object()  # returned by an edit to remove the field
_PATH: Final = re.compile(r"^(?:[A-Za-z_][\w-]*|\*)(?:\.(?:[A-Za-z_][\w-]*|\*)|\[(?:\d+|\*)\])*$")
_TOKEN: Final = re.compile(r"([A-Za-z_][\w-]*|\*)|\[(\d+|\*)\]")

Step = str | int
Edit = Callable[[Any], Any]


def valid_path(path: str) -> bool:
    return bool(_PATH.match(path))


def parse_path(path: str) -> tuple[Step, ...]:
    """Names as str (``*``: any key or any list item), list indexes as int."""
    if not valid_path(path):
        raise ValueError(f"not a valid field path: {path!r}")
    return tuple(
        name if name else (WILDCARD if index == WILDCARD else int(index))
        for name, index in _TOKEN.findall(path)
    )


def _keys(node: Any, step: Step) -> list[Any]:
    if isinstance(node, dict):
        if step == WILDCARD:
            return list(node)
        return [step] if isinstance(step, str) and step in node else []
    if isinstance(node, list):
        if step == WILDCARD:
            return list(range(len(node)))
        return [step] if isinstance(step, int) and step < len(node) else []
    return []


def edit_path(root: Any, steps: tuple[Step, ...], edit: Edit) -> None:
    """Apply ``edit`` in place to every value at ``steps``; ``DROP`` removes the field."""
    if not steps:
        return
    head, rest = steps[0], steps[1:]
    keys = _keys(root, head)
    if rest:
        for key in keys:
            edit_path(root[key], rest, edit)
        return
    dropped: list[Any] = []
    for key in keys:
        new = edit(root[key])
        if new is DROP:
            dropped.append(key)
        else:
            root[key] = new
    for key in reversed(dropped):  # reversed: list indexes stay valid
        del root[key]
