"""Settings of the embedded SQLite bus (``OUTRIGGER_BUS__SQLITE__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SqliteBusSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path | None = None  # default: <data_dir>/bus.sqlite3
    visibility_timeout_s: float = Field(default=60.0, gt=0)
    poll_interval_s: float = Field(default=0.05, gt=0)
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
