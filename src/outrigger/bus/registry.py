"""The broker kinds, and the one function that opens the configured one.

Each kind is a sub-package of ``outrigger.bus`` whose ``open_bus(settings, data_dir)``
returns an unstarted bus and its dead-letter queue; it imports its broker's client lazily,
so a kind costs nothing until it is chosen. Adding a broker is a new folder, one line here
and its settings section in ``bus/settings.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Protocol

from outrigger.bus.base import DeadLetterQueue, EventBus

if TYPE_CHECKING:
    from outrigger.bus.settings import BusSettings

#: kind -> the sub-package that implements it
KINDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "sqlite": "outrigger.bus.sqlite",
        "memory": "outrigger.bus.memory",
        "rabbitmq": "outrigger.bus.rabbitmq",
        "sqs": "outrigger.bus.sqs",
        "redis": "outrigger.bus.redis",
        "kafka": "outrigger.bus.kafka",
        "nats": "outrigger.bus.nats",
    }
)


class Opener(Protocol):
    def __call__(
        self, settings: BusSettings, data_dir: Path
    ) -> tuple[EventBus, DeadLetterQueue]: ...


def open_bus(settings: BusSettings, data_dir: Path) -> tuple[EventBus, DeadLetterQueue]:
    """An unstarted bus and its dead-letter queue for ``settings.kind``."""
    module = importlib.import_module(KINDS[settings.kind])
    opener: Opener = module.open_bus
    return opener(settings, data_dir)
