"""Settings of the Redis Streams bus (``OUTRIGGER_BUS__REDIS__*``).

The URL may carry a password, so it comes from a mounted secret file when ``url_file`` is set
(``outrigger.secrets.secret_value``). Durability, trimming and reclaiming are explained in
docs/brokers.md ("Redis Streams").
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from outrigger.secrets import secret_value


class RedisBusSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    url_file: Path | None = None  # a mounted secret; wins over url
    # Outrigger's own keys (bindings, queue index, temporary subscriptions, dead letters)
    # start with this; the exchange streams are named by the exchange alone, so the domain
    # publishes with a plain XADD.
    key_prefix: str = "outrigger"
    # A pending entry whose consumer has not touched it for this long is taken over by a
    # live consumer (XAUTOCLAIM): how long a crashed worker's messages wait. Live consumers
    # touch what they hold every third of it, so slow handling is never taken over.
    claim_idle_s: float = Field(default=30.0, gt=0)
    # A follower's (``events tail``) group is removed this long after its last heartbeat.
    temporary_ttl_s: float = Field(default=60.0, gt=0)
    block_ms: int = Field(default=500, ge=1)  # longest wait of one XREADGROUP
    # Trimming (XADD MAXLEN / MINID) drops the oldest entries even when a group has not
    # read them: they are lost to that group. None = never trim (the default).
    max_len: int | None = Field(default=None, ge=1)
    max_age_s: float | None = Field(default=None, gt=0)
    # With replicas: publish returns once this many replicas have the entry (WAIT).
    wait_replicas: int = Field(default=0, ge=0)
    wait_timeout_ms: int = Field(default=1_000, ge=1)
    socket_timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    # Connections the bus may open. One more call than that waits up to
    # ``pool_timeout_s`` for a free one (redis-py's default pool refuses it at once: with a
    # prefetch above ~100, acks failed with "Too many connections" and came back).
    max_connections: int = Field(default=64, ge=2)
    pool_timeout_s: float = Field(default=20.0, gt=0)

    def resolved_url(self) -> str:
        url = secret_value(self.url_file, self.url, "bus.redis.url")
        assert url is not None  # url has a default
        return url
