"""The Anthropic Messages API (``POST {base_url}/v1/messages``) behind the OpenAI-shaped
provider Protocol. Requests are translated in ``anthropic_request``, answers and streamed
events in ``anthropic_answer``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from outrigger.config.llm import DeploymentSettings, ProviderSettings
from outrigger.llm.anthropic_answer import AnthropicChunks, anthropic_completion
from outrigger.llm.anthropic_request import anthropic_body
from outrigger.llm.http import HttpProvider, decode_event, sse_data
from outrigger.llm.types import ChatRequest, ProviderError


class AnthropicMessages:
    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None) -> None:
        self.name = name
        self.settings = settings
        headers = {"anthropic-version": settings.anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        self._http = HttpProvider(name, settings, headers, api_key)
        base = (settings.base_url or "").rstrip("/").removesuffix("/v1")
        self._url = f"{base}/v1/messages"

    async def complete(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> dict[str, Any]:
        body = anthropic_body(self.name, deployment.model, request, stream=False)
        answer = await self._http.post_json(self._url, body, deployment)
        return anthropic_completion(answer, deployment.model)

    async def stream(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        body = anthropic_body(self.name, deployment.model, request, stream=True)
        chunks = AnthropicChunks(self._http, deployment.model)
        async with self._http.post(self._url, body, deployment) as response:
            async for data in sse_data(response.content):
                for item in chunks.translate(decode_event(self._http, data)):
                    yield item
                if chunks.done:
                    return
        raise ProviderError(
            "connection", self._http.message("ended the stream before message_stop")
        )

    async def close(self) -> None:
        await self._http.close()
