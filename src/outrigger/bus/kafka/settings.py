"""Settings of the Kafka bus (``OUTRIGGER_BUS__KAFKA__*``).

Secrets (the SASL password, the TLS key's password) come from mounted files when ``*_file``
is set, else from the inline value (``outrigger.secrets.secret_value``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from outrigger.secrets import secret_value


class KafkaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "outrigger"
    # The consumer group of a subscription is ``group_prefix + queue``: one group per
    # deployment, so two deployments with different ``bus.queue`` never share work.
    group_prefix: str = ""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None  # a mounted secret; wins over sasl_password
    ssl_ca_file: Path | None = None
    ssl_cert_file: Path | None = None
    ssl_key_file: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_key_password_file: Path | None = None

    # Topics: the domain owns its topics; Outrigger creates its own (the queue topic for
    # replays, the dead-letter topic, the attempts log) and, with ``create_topics``, the
    # exact-name topics its subscriptions bind (like RabbitMQ's ``declare_exchanges``) and
    # the topics its pipelines publish results to (at the worker's start-up).
    create_topics: bool = False
    partitions: int = Field(default=6, ge=1)  # for topics Outrigger creates
    replication_factor: int = Field(default=-1, ge=-1)  # -1: the cluster's default
    # Where a new consumer group starts on partitions that exist when it is declared:
    # ``declare`` = their end, like a freshly declared AMQP queue (no history reprocessed);
    # ``earliest`` = everything the topics retain. Topics created later are read from the start.
    start_at: Literal["declare", "earliest"] = "declare"
    # The attempts log is the topic ``<prefix><queue>``; the ``__`` keeps it out of every
    # binding's pattern (``<exchange>.…``).
    attempts_prefix: str = "__outrigger-attempts."

    publish_timeout_s: float = Field(default=10.0, gt=0)
    session_timeout_ms: int = Field(default=45_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    max_poll_interval_ms: int = Field(default=300_000, ge=1_000)
    max_poll_records: int = Field(default=500, ge=1)  # records fetched per poll
    # Uncommitted records kept per partition (settled or not) before its fetching pauses.
    max_window: int = Field(default=10_000, ge=1)
    commit_interval_s: float = Field(default=0.2, gt=0)
    revoke_timeout_s: float = Field(default=10.0, ge=0)  # wait for in-flight work on revoke
    # How often pattern subscriptions look for new topics.
    metadata_refresh_ms: int = Field(default=30_000, ge=1_000)

    def client_config(self) -> dict[str, Any]:
        """librdkafka settings shared by the producer, consumers and admin client."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
            # Never create a topic as a side effect of a metadata look-up or a publish: an
            # unroutable result must be refused (the default is true for producers and admin).
            "allow.auto.create.topics": False,
        }
        if self.sasl_mechanism is not None:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username or ""
            config["sasl.password"] = secret_value(
                self.sasl_password_file, self.sasl_password, "bus.kafka.sasl_password"
            )
        tls = {
            "ssl.ca.location": self.ssl_ca_file,
            "ssl.certificate.location": self.ssl_cert_file,
            "ssl.key.location": self.ssl_key_file,
            "ssl.key.password": secret_value(
                self.ssl_key_password_file, self.ssl_key_password, "bus.kafka.ssl_key_password"
            ),
        }
        config.update({k: str(v) for k, v in tls.items() if v is not None})
        return config
