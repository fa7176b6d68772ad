"""The bus settings (``OUTRIGGER_BUS__*``): what every broker shares, and each broker's own
section, defined beside its code (``bus/<kind>/settings.py``).

``exchange``, ``queue`` and ``dead_letter_queue`` mean the same on every broker (where the
domain publishes its events, Outrigger's own consumer, its dead letters); each broker maps
them to its own addressing (docs/brokers.md), so two deployments are isolated by names alone.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from outrigger.bus.kafka.settings import KafkaSettings
from outrigger.bus.kinds import KINDS
from outrigger.bus.nats.settings import NatsSettings
from outrigger.bus.rabbitmq.settings import RabbitSettings
from outrigger.bus.redis.settings import RedisBusSettings
from outrigger.bus.sqlite.settings import SqliteBusSettings
from outrigger.bus.sqs.settings import SqsSettings


class BusSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = "sqlite"  # one of ``bus.kinds.KINDS``
    exchange: str = "domain.events"  # where the core services publish domain events
    result_exchange: str | None = None  # where result events go; default: ``exchange``
    queue: str = "outrigger.pipelines"  # Outrigger's own durable queue
    dead_letter_queue: str = "outrigger.dlq"
    sqlite: SqliteBusSettings = SqliteBusSettings()
    rabbitmq: RabbitSettings = RabbitSettings()
    sqs: SqsSettings = SqsSettings()
    redis: RedisBusSettings = RedisBusSettings()
    kafka: KafkaSettings = KafkaSettings()
    nats: NatsSettings = NatsSettings()

    @field_validator("kind")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown bus kind {value!r}; choose one of {', '.join(KINDS)}")
        return value

    @property
    def results_to(self) -> str:
        return self.result_exchange or self.exchange
