"""CPU-bound request work off the event loop once the request is large.

Screening and pseudonymising a few hundred bytes takes microseconds: a thread hop would cost
more than it saves. A legal 1 MB chat body takes the regex screens more than a second, and on
the event loop that second stalls every other request (``/healthz`` included). Above
``OFFLOAD_CHARS`` the work runs in a worker thread: it still holds the GIL while it runs
Python code, but the interpreter hands the GIL back to the loop every few milliseconds, so
the gateway keeps answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from outrigger.llm.types import content_text

T = TypeVar("T")

#: Characters of message text above which the screens run in a worker thread.
OFFLOAD_CHARS = 32_768


def text_size(messages: Sequence[Mapping[str, Any]]) -> int:
    return sum(len(content_text(m.get("content"))) for m in messages)


async def run_sized(size: int, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``: inline when ``size`` is small, in a worker thread when it is large."""
    if size > OFFLOAD_CHARS:
        return await asyncio.to_thread(fn, *args)
    return fn(*args)
