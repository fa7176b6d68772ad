"""Provider keys: from a mounted secret file; from an environment variable only for local
development (with a warning). Keys are returned to the adapter, never logged."""

from __future__ import annotations

import logging

from outrigger.config.llm import ProviderSettings
from outrigger.secrets import file_or_env

log = logging.getLogger(__name__)


def provider_key(name: str, settings: ProviderSettings) -> str | None:
    key = file_or_env(settings.api_key_file, settings.api_key_env, f"llm.providers.{name}.api_key")
    if settings.api_key_file is None and settings.api_key_env is not None:
        log.warning(
            "provider %s takes its key from the environment variable %s: fine on a laptop; "
            "in production mount it as a file (api_key_file)",
            name,
            settings.api_key_env,
        )
    return key
