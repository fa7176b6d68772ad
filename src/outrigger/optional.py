"""Lazy imports of optional dependencies with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from outrigger.errors import MissingExtraError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or fail with the ``pip install 'outrigger[extra]'`` hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"'{module}' is not installed; install it with: pip install 'outrigger[{extra}]'"
        ) from exc
