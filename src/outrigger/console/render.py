"""Jinja2 filters of the console's templates: money, times, numbers."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from jinja2 import Environment
from markupsafe import Markup


def usd(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0 or abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.6f}" if abs(value) < 0.01 else f"${value:.4f}"


def when(value: float | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def as_json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` element: ``<``, ``>`` and ``&``
    escaped so no value can close the element."""
    text = json.dumps(value, sort_keys=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def install_filters(env: Environment) -> None:
    env.filters.update(usd=usd, when=when, number=number, percent=percent, as_json=as_json)
