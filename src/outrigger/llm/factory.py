"""Build one adapter per configured provider (keys read here, once, at start-up)."""

from __future__ import annotations

from outrigger.config.llm import LlmSettings
from outrigger.llm.base import Provider
from outrigger.llm.local import LocalLlama
from outrigger.llm.openai_compat import OpenAICompatible
from outrigger.llm.secrets import provider_key


def build_providers(settings: LlmSettings) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name, provider in settings.providers.items():
        if provider.kind == "local":
            providers[name] = LocalLlama(name, provider)
        else:
            providers[name] = OpenAICompatible(name, provider, provider_key(name, provider))
    return providers
