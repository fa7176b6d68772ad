"""The vocabulary of field mappings in a pipelines file: path syntax, types and units.

The pipelines spec validates against it; the engine's ``mapping`` applies it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

_PATH = re.compile(r"^[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\])*$")

#: Multipliers for ``unit: "<from>-><to>"``.
UNITS: Final[Mapping[str, float]] = {
    "cents->units": 0.01,
    "units->cents": 100.0,
    "thousands->units": 1_000.0,
    "lakh->units": 100_000.0,
    "crore->units": 10_000_000.0,
    "percent->fraction": 0.01,
    "fraction->percent": 100.0,
    "years->months": 12.0,
    "months->years": 1 / 12,
    "days->months": 12 / 365.25,
    "days->years": 1 / 365.25,
    "weeks->months": 12 / 52.1775,
    "yearly->monthly": 1 / 12,
    "weekly->monthly": 52.1775 / 12,
}
KINDS: Final = ("float", "int", "str", "bool")


def valid_path(path: str) -> bool:
    return bool(_PATH.match(path))
