"""Provider keys: from a mounted secret file; from an environment variable only for local
development (with a warning). Keys are returned to the adapter, never logged."""

from __future__ import annotations

import logging
import os

from outrigger.config.llm import ProviderSettings
from outrigger.errors import ConfigError

log = logging.getLogger(__name__)


def provider_key(name: str, settings: ProviderSettings) -> str | None:
    if settings.api_key_file is not None:
        try:
            return settings.api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"llm.providers.{name}.api_key_file: cannot read {settings.api_key_file}: "
                f"{exc.strerror}"
            ) from exc
    if settings.api_key_env is not None:
        value = os.environ.get(settings.api_key_env)
        if value is None:
            raise ConfigError(
                f"llm.providers.{name}.api_key_env: {settings.api_key_env} is not set"
            )
        log.warning(
            "provider %s takes its key from the environment variable %s: fine on a laptop; "
            "in production mount it as a file (api_key_file)",
            name,
            settings.api_key_env,
        )
        return value
    return None
