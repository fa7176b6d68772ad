"""A circuit breaker per deployment: closed -> open -> half-open -> closed.

``failure_threshold`` consecutive failures open it; after ``open_s`` one probe call at a
time is let through (half-open); ``half_open_probes`` successes close it, a failure opens
it again. While open, calls skip the deployment at once (no timeout is paid).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from outrigger.config.llm import CircuitSettings

State = Literal["closed", "open", "half_open"]
STATE_VALUE: dict[State, int] = {"closed": 0, "half_open": 1, "open": 2}


class CircuitBreaker:
    def __init__(
        self,
        settings: CircuitSettings,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[State], None] | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._on_change = on_change
        self._state: State = "closed"
        self._failures = 0
        self._successes = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> State:
        if self._state == "open" and self._clock() - self._opened_at >= self.settings.open_s:
            self._set("half_open")
        return self._state

    def _set(self, state: State) -> None:
        if state != self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)

    def allow(self) -> bool:
        """May a call go to this deployment now? (A half-open circuit admits one probe.)"""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        self._probing = False
        self._failures = 0
        if self._state == "half_open":
            self._successes += 1
            if self._successes < self.settings.half_open_probes:
                return
        self._successes = 0
        self._set("closed")

    def failure(self) -> None:
        self._probing = False
        self._successes = 0
        self._failures += 1
        if self._state == "half_open" or self._failures >= self.settings.failure_threshold:
            self._opened_at = self._clock()
            self._failures = 0
            self._set("open")

    def release(self) -> None:
        """The call ended without telling anything about the deployment's health."""
        self._probing = False
