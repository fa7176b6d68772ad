"""Settings of the NATS JetStream bus (``OUTRIGGER_BUS__NATS__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from outrigger.secrets import secret_value


class NatsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = SecretStr("nats://127.0.0.1:4222")
    url_file: Path | None = None  # a mounted secret; wins over url
    #: Create the stream capturing ``<exchange>.>`` when it is missing. Off by default, like
    #: RabbitMQ's ``declare_exchanges``: the domain owns its stream, we only add consumers.
    create_streams: bool = False
    #: Retention of the streams we create: ``interest`` keeps a message until every consumer
    #: whose filter matches it has acked it (AMQP's copy per queue); ``limits`` keeps history.
    #: Never ``workqueue``: it refuses a second consumer with an overlapping filter (a tail).
    retention: Literal["interest", "limits"] = "interest"
    #: Outrigger's own stream for messages sent straight to a queue (dead-letter replays).
    direct_stream: str = "OUTRIGGER_DIRECT"
    #: Unacked this long, a delivery goes back (a crashed worker); live ones are kept alive
    #: with in-progress acks, so this bounds only the redelivery delay after a crash.
    ack_wait_s: float = Field(default=30.0, gt=0)
    #: Delay before a nacked (transient failure) message is redelivered.
    nak_delay_s: float = Field(default=1.0, ge=0)
    publish_timeout_s: float = Field(default=10.0, gt=0)
    #: A temporary (``events tail``) consumer is removed by the server after this long idle.
    temporary_inactive_s: float = Field(default=30.0, gt=0)
    max_ack_pending: int = Field(default=10_000, gt=0)

    def resolved_url(self) -> str:
        url = secret_value(self.url_file, self.url, "bus.nats.url")
        assert url is not None  # url has a default
        return url
