"""The embedded default bus: a durable single-file queue on SQLite (no broker to run)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from outrigger.bus.base import DeadLetterQueue, EventBus

if TYPE_CHECKING:
    from outrigger.bus.settings import BusSettings


def bus_path(settings: BusSettings, data_dir: Path) -> Path:
    return settings.sqlite.path or data_dir / "bus.sqlite3"


def open_bus(settings: BusSettings, data_dir: Path) -> tuple[EventBus, DeadLetterQueue]:
    from outrigger.bus.sqlite.bus import SqliteBus
    from outrigger.bus.sqlite.dlq import SqliteDeadLetterQueue

    cfg = settings.sqlite
    bus = SqliteBus(
        bus_path(settings, data_dir),
        visibility_timeout_s=cfg.visibility_timeout_s,
        poll_interval_s=cfg.poll_interval_s,
        synchronous=cfg.synchronous,
    )
    return bus, SqliteDeadLetterQueue(bus)
