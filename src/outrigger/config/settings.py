"""The one settings tree, read once at start-up from the environment.

Environment variables use the prefix ``OUTRIGGER_`` and ``__`` between levels, for example
``OUTRIGGER_BUS__KIND=rabbitmq`` or ``OUTRIGGER_BUS__RABBITMQ__URL=amqp://...``. Secrets
(broker passwords) may instead come from files: ``OUTRIGGER_BUS__RABBITMQ__URL_FILE``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from outrigger.bus.settings import BusSettings
from outrigger.bus.sqlite import bus_path as sqlite_bus_path
from outrigger.cache.settings import CacheSettings
from outrigger.config.guard import GuardSettings
from outrigger.config.llm import GatewaySettings, LlmSettings, TenancySettings
from outrigger.console.settings import ConsoleSettings
from outrigger.embeddings.settings import EmbeddingSettings
from outrigger.errors import ConfigError
from outrigger.privacy.policy import PrivacyConfig
from outrigger.secrets import secret_value
from outrigger.vector.settings import VectorStoreSettings

CONFIG_FILE_VAR = "OUTRIGGER_CONFIG_FILE"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkerSettings(Section):
    prefetch: int = Field(default=64, ge=1, le=10_000)
    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff_initial_s: float = Field(default=0.2, ge=0)
    backoff_max_s: float = Field(default=10.0, ge=0)
    max_deliveries: int = Field(default=10, ge=1)  # a message redelivered more often is poison
    max_event_bytes: int = Field(default=1_048_576, ge=1)
    drain_timeout_s: float = Field(default=30.0, ge=0)
    idempotency_ttl_s: float = Field(default=7 * 24 * 3600, gt=0)
    #: Micro-batching of model calls across concurrent events (1 = off).
    batch_max_size: int = Field(default=64, ge=1, le=4096)
    #: Waited only while other events are in flight that may join the batch (batching.py).
    batch_max_wait_ms: float = Field(default=3.0, ge=0, le=1000)

    @model_validator(mode="after")
    def _backoff(self) -> WorkerSettings:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        return self


class StorageSettings(Section):
    #: SQLAlchemy URL of the idempotency, tenants, ledger and audit database; default is
    #: ``sqlite:///<data_dir>/outrigger.sqlite3``; ``memory://`` keeps it in process.
    url: SecretStr | None = None
    url_file: Path | None = None  # a mounted secret; wins over url


class RegistrySettings(Section):
    kind: Literal["directory", "s3"] = "directory"
    path: Path | None = None  # directory store; default: <data_dir>/registry
    s3_bucket: str | None = None
    s3_prefix: str = "models"
    s3_endpoint_url: str | None = None  # for S3-compatible stores (MinIO, Ceph ...)
    keep: int = Field(default=3, ge=1)  # versions kept per model (aliased ones always kept)
    poll_s: float = Field(default=5.0, gt=0)  # how often workers look for alias changes


class TelemetrySettings(Section):
    metrics_port: int = Field(default=9464, ge=0, le=65535)  # worker's /metrics; 0 = off
    metrics_host: str = "0.0.0.0"
    sample_interval_s: float = Field(default=15.0, gt=0)  # queue backlog and DLQ size
    log_format: Literal["text", "json"] = "text"
    #: OTLP/HTTP traces endpoint (e.g. http://otel-collector:4318/v1/traces); off when unset.
    otlp_endpoint: str | None = None
    #: Distinct features (``X-Outrigger-Feature``) not named in the configuration that get
    #: their own Prometheus label per process; later ones are counted under ``_other``.
    max_feature_labels: int = Field(default=100, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OUTRIGGER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Path(".outrigger")
    pipelines_file: Path | None = None  # default: the bundled demo pipelines
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    bus: BusSettings = BusSettings()
    worker: WorkerSettings = WorkerSettings()
    storage: StorageSettings = StorageSettings()
    registry: RegistrySettings = RegistrySettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    llm: LlmSettings = LlmSettings()
    tenancy: TenancySettings = TenancySettings()
    gateway: GatewaySettings = GatewaySettings()
    #: The operator's web console under ``/console`` (docs/console.md).
    console: ConsoleSettings = ConsoleSettings()
    #: PII pseudonymisation of LLM calls. On by default in ``standard`` mode (structured
    #: identifiers and person names, no extra needed); ``mode: full`` uses Presidio + spaCy.
    privacy: PrivacyConfig = PrivacyConfig()
    guard: GuardSettings = GuardSettings()
    #: The response cache: off until enabled (it needs the ``embeddings`` extra for
    #: semantic matches, or ``semantic: false`` for exact matches only).
    cache: CacheSettings = CacheSettings(enabled=False)
    embeddings: EmbeddingSettings = EmbeddingSettings()
    vectors: VectorStoreSettings = VectorStoreSettings()
    #: Pins: ``OUTRIGGER_MODELS__CREDIT_RISK=2.1.3`` (or an alias) overrides the ``ref`` of
    #: the registry model ``credit-risk`` (dashes become underscores in the variable name).
    models: dict[str, str] = {}

    @field_validator("data_dir", mode="before")
    @classmethod
    def _named_directory(cls, value: object) -> object:
        """An empty value (``OUTRIGGER_DATA_DIR=``, a blank Helm value) would quietly mean
        the current directory."""
        if isinstance(value, str) and not value.strip():
            raise ValueError(
                "is empty: unset it for the default (.outrigger), or name a directory "
                "('.' for the current one)"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then ``OUTRIGGER_*`` variables, then the YAML file named by
        ``OUTRIGGER_CONFIG_FILE`` (read once, here, at start-up), then the defaults."""
        sources = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VAR)
        if config_file:
            if not Path(config_file).is_file():
                raise ConfigError(f"{CONFIG_FILE_VAR}: no such file: {config_file}")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=Path(config_file)))
        return tuple(sources)

    def model_pin(self, name: str) -> str | None:
        wanted = name.replace("-", "_").lower()
        for key, value in self.models.items():
            if key.replace("-", "_").lower() == wanted:
                return value
        return None

    def sqlite_bus_path(self) -> Path:
        return sqlite_bus_path(self.bus, self.data_dir)

    def registry_path(self) -> Path:
        return self.registry.path or self.data_dir / "registry"

    def storage_url(self) -> str:
        url = secret_value(self.storage.url_file, self.storage.url, "storage.url")
        return url or f"sqlite:///{self.data_dir / 'outrigger.sqlite3'}"
