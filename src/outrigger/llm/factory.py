"""Build one adapter per configured provider (keys read here, once, at start-up).

Each kind names the module and class of its adapter, imported only when a provider of that
kind is configured (an adapter's SDK is an optional extra)."""

from __future__ import annotations

from importlib import import_module

from outrigger.config.llm import LlmSettings, ProviderKind
from outrigger.llm.base import Provider
from outrigger.llm.secrets import provider_key

OPENAI = "outrigger.llm.openai_compat:OpenAICompatible"
ADAPTERS: dict[ProviderKind, str] = {
    "openai": OPENAI,
    "azure": OPENAI,
    "ollama": OPENAI,
    "vllm": OPENAI,
    "llamacpp": OPENAI,
    "local": "outrigger.llm.local:LocalLlama",
    "anthropic": "outrigger.llm.anthropic:AnthropicMessages",
    "ollama_native": "outrigger.llm.ollama_native:OllamaNative",
    "bedrock": "outrigger.llm.bedrock:BedrockConverse",
}


def build_providers(settings: LlmSettings) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name, provider in settings.providers.items():
        path = ADAPTERS.get(provider.kind)
        if path is None:
            raise ValueError(f"llm.providers.{name}: kind {provider.kind!r} has no adapter yet")
        module, _, cls = path.partition(":")
        adapter = getattr(import_module(module), cls)
        if provider.kind == "local":
            providers[name] = adapter(name, provider)
        else:
            providers[name] = adapter(name, provider, provider_key(name, provider))
    return providers
