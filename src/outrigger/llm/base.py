"""The provider Protocol: one OpenAI-shaped chat call, plain or streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from outrigger.config.llm import DeploymentSettings
from outrigger.llm.types import ChatRequest


class Provider(Protocol):
    """Raises ``ProviderError`` for every failure; never retries on its own (the proxy does)."""

    async def complete(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> dict[str, Any]:
        """An OpenAI ``chat.completion`` body."""
        ...

    def stream(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        """OpenAI ``chat.completion.chunk`` bodies; the last may carry ``usage``."""
        ...

    async def close(self) -> None: ...
