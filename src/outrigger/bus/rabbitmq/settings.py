"""Settings of the RabbitMQ bus (``OUTRIGGER_BUS__RABBITMQ__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from outrigger.secrets import secret_value


class RabbitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    url_file: Path | None = None  # a mounted secret; wins over url
    exchange_type: Literal["topic", "direct", "fanout", "headers"] = "topic"
    declare_exchanges: bool = False  # the domain owns its exchange; we only bind to it
    queue_type: Literal["classic", "quorum"] = "classic"

    def resolved_url(self) -> str:
        url = secret_value(self.url_file, self.url, "bus.rabbitmq.url")
        assert url is not None  # url has a default
        return url
