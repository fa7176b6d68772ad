"""One adapter for every OpenAI-compatible endpoint: OpenAI, Azure OpenAI, Ollama, vLLM and
the llama.cpp server. aiohttp keeps a pool of warm connections per provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from outrigger.config.llm import DeploymentSettings, ProviderSettings
from outrigger.llm.types import ChatRequest, ProviderError
from outrigger.optional import require

SSE_DATA = b"data:"
SSE_DONE = b"[DONE]"


class OpenAICompatible:
    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None) -> None:
        self.name = name
        self.settings = settings
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            if settings.kind == "azure":
                self._headers["api-key"] = api_key
            else:
                self._headers["Authorization"] = f"Bearer {api_key}"
        self._session: Any = None

    def _url(self, deployment: DeploymentSettings) -> str:
        base = (self.settings.base_url or "").rstrip("/")
        if self.settings.kind == "azure":
            return (
                f"{base}/openai/deployments/{deployment.model}/chat/completions"
                f"?api-version={self.settings.api_version}"
            )
        return f"{base}/chat/completions"

    def _client(self) -> Any:
        if self._session is None:
            aiohttp = require("aiohttp", "gateway")
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=self.settings.connect_timeout_s,
                sock_read=self.settings.timeout_s,
            )
            connector = aiohttp.TCPConnector(limit=self.settings.max_connections)
            self._session = aiohttp.ClientSession(
                timeout=timeout, connector=connector, headers=self._headers
            )
        return self._session

    async def complete(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> dict[str, Any]:
        body = request.body(deployment.model, stream=False)
        async with (
            _translated(self.name),
            self._client().post(self._url(deployment), json=body) as response,
        ):
            payload = await response.read()
            if response.status != 200:
                raise ProviderError.from_status(
                    response.status, _error_message(self.name, response.status, payload)
                )
            result: dict[str, Any] = json.loads(payload)
            return result

    async def stream(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        body = request.body(deployment.model, stream=True)
        async with (
            _translated(self.name),
            self._client().post(self._url(deployment), json=body) as response,
        ):
            if response.status != 200:
                payload = await response.read()
                raise ProviderError.from_status(
                    response.status, _error_message(self.name, response.status, payload)
                )
            async for chunk in _sse_events(self.name, response.content):
                yield chunk

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _sse_events(name: str, content: Any) -> AsyncIterator[dict[str, Any]]:
    """The JSON events of an SSE body; a body that ends before ``[DONE]`` is an error."""
    async for raw in content:
        line = raw.strip()
        if not line.startswith(SSE_DATA):
            continue
        data = line[len(SSE_DATA) :].strip()
        if data == SSE_DONE:
            return
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise ProviderError("server", f"provider {name} sent a malformed event") from exc
        if isinstance(event, dict) and "error" in event:
            raise ProviderError("server", f"provider {name} failed mid-stream: {event['error']}")
        yield event
    raise ProviderError("connection", f"provider {name} ended the stream before [DONE]")


class _translated:
    """Turn aiohttp's and asyncio's failures into ProviderErrors."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> None:
        if exc is None or isinstance(exc, ProviderError | GeneratorExit | asyncio.CancelledError):
            return
        aiohttp = require("aiohttp", "gateway")
        if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
            raise ProviderError("timeout", f"provider {self.name} timed out") from exc
        if isinstance(exc, aiohttp.ClientError | ConnectionError):
            raise ProviderError(
                "connection", f"provider {self.name} connection failed: {type(exc).__name__}"
            ) from exc
        if isinstance(exc, ValueError):
            raise ProviderError("server", f"provider {self.name} sent invalid JSON") from exc


def _error_message(name: str, status: int, payload: bytes) -> str:
    """The provider's own message (OpenAI error shape) when it has one, never the request."""
    try:
        message = json.loads(payload)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = payload[:200].decode("utf-8", "replace")
    return f"provider {name} answered {status}: {message}"
