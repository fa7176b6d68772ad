"""The broker kinds: each is a sub-package of ``outrigger.bus`` with the same inner layout
(``bus.py``, ``dlq.py``, ``settings.py`` and an ``open_bus(settings, data_dir)``).

Adding a broker is a new folder, one line here and its settings section in
``bus/settings.py``. Kept apart from ``registry`` so the settings can validate a kind
without importing the function that opens one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

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
