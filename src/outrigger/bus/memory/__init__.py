"""The in-memory bus: for unit tests and quick experiments (nothing survives the process)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from outrigger.bus.base import DeadLetterQueue, EventBus

if TYPE_CHECKING:
    from outrigger.bus.settings import BusSettings


def open_bus(settings: BusSettings, data_dir: Path) -> tuple[EventBus, DeadLetterQueue]:
    from outrigger.bus.memory.bus import MemoryBus
    from outrigger.bus.memory.dlq import MemoryDeadLetterQueue

    bus = MemoryBus()
    return bus, MemoryDeadLetterQueue(bus)
