"""One adapter for every OpenAI-compatible endpoint: OpenAI, Azure OpenAI, Ollama, vLLM and
the llama.cpp server. aiohttp keeps a pool of warm connections per provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from outrigger.config.llm import DeploymentSettings, ProviderSettings
from outrigger.llm.http import HttpProvider, decode_event, sse_data
from outrigger.llm.types import ChatRequest, ProviderError

SSE_DONE = b"[DONE]"


class OpenAICompatible:
    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None) -> None:
        self.name = name
        self.settings = settings
        headers: dict[str, str] = {}
        if api_key:
            if settings.kind == "azure":
                headers["api-key"] = api_key
            else:
                headers["Authorization"] = f"Bearer {api_key}"
        self._http = HttpProvider(name, settings, headers, api_key)

    def _url(self, deployment: DeploymentSettings) -> str:
        base = (self.settings.base_url or "").rstrip("/")
        if self.settings.kind == "azure":
            return (
                f"{base}/openai/deployments/{deployment.model}/chat/completions"
                f"?api-version={self.settings.api_version}"
            )
        return f"{base}/chat/completions"

    async def complete(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> dict[str, Any]:
        body = request.body(deployment.model, stream=False)
        return await self._http.post_json(self._url(deployment), body, deployment)

    async def stream(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        """The JSON events of the SSE body; a body that ends before ``[DONE]`` is an error."""
        body = request.body(deployment.model, stream=True)
        async with self._http.post(self._url(deployment), body, deployment) as response:
            async for data in sse_data(response.content):
                if data == SSE_DONE:
                    return
                event = decode_event(self._http, data)
                if "error" in event:
                    text = f"failed mid-stream: {event['error']}"
                    raise ProviderError("server", self._http.message(text))
                yield event
        raise ProviderError("connection", self._http.message("ended the stream before [DONE]"))

    async def close(self) -> None:
        await self._http.close()
