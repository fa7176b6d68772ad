"""Where the files shipped inside the package live (the demo pipelines, the bundled models).

A foundation module: the guard's classifier, the configuration loader and the demo all find
their bundled files here, without importing each other.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_root() -> Path:
    return Path(str(resources.files("outrigger") / "bundled"))
