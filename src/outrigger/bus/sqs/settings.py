"""Settings of the Amazon SQS bus (``OUTRIGGER_BUS__SQS__*``).

Credentials are deliberately absent: boto3 finds them on its usual chain (environment,
shared config and credential files, web identity, container and instance roles), so a key
never sits in a settings file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SqsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = "us-east-1"
    endpoint_url: str = ""  # empty: AWS itself; else an emulator (moto, LocalStack, ElasticMQ)
    #: Prepended to every queue Outrigger names, and the scope of the binding look-up
    #: (ListQueues by prefix): two deployments in one account stay apart.
    queue_prefix: str = ""
    #: FIFO queues (``<name>.fifo``): order kept within a message group, deduplication of
    #: re-sent messages for 5 minutes by message id.
    fifo: bool = False
    #: Header whose value is a FIFO message's group (e.g. an account id); the routing key when
    #: unset or missing on a message.
    group_header: str | None = None
    #: How long a received message stays invisible; extended while it is being worked on.
    visibility_timeout_s: int = Field(default=30, ge=1, le=43_200)
    #: Long polling: a receive waits up to this long for a message (SQS allows 0..20).
    wait_time_s: int = Field(default=20, ge=0, le=20)
    #: How long a publisher trusts its view of the bindings (queue tags) before reading them
    #: again; a publish that finds no binding always reads them again first.
    routes_ttl_s: float = Field(default=5.0, ge=0)
    #: Concurrent SDK calls (boto3 is blocking: each runs on a thread of the bus's own pool).
    max_connections: int = Field(default=16, ge=2, le=256)
