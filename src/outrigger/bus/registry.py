"""The one function that opens the configured broker kind (``bus/kinds.py``).

Each kind's ``open_bus(settings, data_dir)`` returns an unstarted bus and its dead-letter
queue; it imports its broker's client lazily, so a kind costs nothing until it is chosen.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from outrigger.bus.base import DeadLetterQueue, EventBus
from outrigger.bus.kinds import KINDS

if TYPE_CHECKING:
    from outrigger.bus.settings import BusSettings


class Opener(Protocol):
    def __call__(
        self, settings: BusSettings, data_dir: Path
    ) -> tuple[EventBus, DeadLetterQueue]: ...


def open_bus(settings: BusSettings, data_dir: Path) -> tuple[EventBus, DeadLetterQueue]:
    """An unstarted bus and its dead-letter queue for ``settings.kind``."""
    module = importlib.import_module(KINDS[settings.kind])
    opener: Opener = module.open_bus
    return opener(settings, data_dir)
