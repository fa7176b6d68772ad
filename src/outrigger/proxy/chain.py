"""The proxy as a list of small steps with one signature.

A step receives the call's context and ``call_next`` (the rest of the chain). It may refuse
the call (raise a ``ProxyError``), answer it itself (a cache hit), or wrap what comes back
(re-hydration, recording). The last link calls the providers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Protocol

from outrigger.proxy.context import CallContext, Reply

Next = Callable[[CallContext], Awaitable[Reply]]


class Step(Protocol):
    async def __call__(self, ctx: CallContext, call_next: Next) -> Reply: ...


def build_chain(steps: Sequence[Step], terminal: Next) -> Next:
    """``steps[0]`` runs first; ``terminal`` runs last."""
    handler = terminal
    for step in reversed(steps):
        handler = partial(step, call_next=handler)
    return handler
