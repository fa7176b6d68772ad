"""What every HTTP provider adapter shares: one aiohttp session per provider, the timeout of
each call (the deployment's ``timeout_s`` over the provider's), failures turned into
``ProviderError`` (with the provider's ``Retry-After``), and keys kept out of messages.

Adapters only translate bodies; how a request is sent and how it fails is decided here once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime
from typing import Any

from outrigger.config.llm import DeploymentSettings, ProviderSettings
from outrigger.llm.types import ProviderError
from outrigger.optional import require

REDACTED = "[redacted]"
#: How much of an upstream error message is kept (after redaction).
MESSAGE_CHARS = 300


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced (an upstream may echo the key it was sent)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the provider asked us to wait: OpenAI's ``retry-after-ms``, else the standard
    ``Retry-After`` in seconds or as an HTTP-date (Anthropic and Ollama send the standard
    one). ``None`` when absent or unreadable; never negative."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT by definition
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def upstream_message(payload: bytes) -> str:
    """The provider's own error message: ``{"error": {"message"}}`` (OpenAI, Anthropic),
    ``{"error": "..."}`` (Ollama), ``{"message"}``; else the start of the body."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return payload[:1000].decode("utf-8", "replace")


class HttpProvider:
    """The transport of one configured provider: ``post`` sends a JSON body and hands back a
    response that answered 200; everything else becomes a ``ProviderError``."""

    def __init__(
        self, name: str, settings: ProviderSettings, headers: dict[str, str], secret: str | None
    ) -> None:
        self.name = name
        self.settings = settings
        self._headers = {"Content-Type": "application/json", **headers}
        self._secrets = (secret,) if secret else ()
        self._session: Any = None
        self._timeouts: dict[float, Any] = {}  # read timeout -> aiohttp.ClientTimeout

    def _client(self) -> Any:
        if self._session is None:
            aiohttp = require("aiohttp", "gateway")
            connector = aiohttp.TCPConnector(limit=self.settings.max_connections)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers)
        return self._session

    def timeout(self, deployment: DeploymentSettings) -> Any:
        """Connect within the provider's ``connect_timeout_s``; then no silence longer than
        the deployment's ``timeout_s`` (else the provider's): the whole wait for a plain
        answer, the gap between chunks of a stream."""
        read = deployment.timeout_s or self.settings.timeout_s
        timeout = self._timeouts.get(read)
        if timeout is None:  # one per distinct value, not one per call
            aiohttp = require("aiohttp", "gateway")
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self.settings.connect_timeout_s, sock_read=read
            )
            self._timeouts[read] = timeout
        return timeout

    def message(self, text: str) -> str:
        """``provider <name>: <text>`` with the key redacted, then shortened."""
        return f"provider {self.name} {redact(text, self._secrets)[:MESSAGE_CHARS]}"

    def failure(self, status: int, headers: Mapping[str, str], payload: bytes) -> ProviderError:
        text = self.message(f"answered {status}: {upstream_message(payload)}")
        return ProviderError.from_status(status, text, retry_after_s(headers))

    @asynccontextmanager
    async def post(
        self, url: str, body: dict[str, Any], deployment: DeploymentSettings
    ) -> AsyncIterator[Any]:
        """The aiohttp response to ``body`` posted at ``url``, once it answered 200. Failures
        while the caller reads it are translated too."""
        async with (
            _translated(self),
            self._client().post(url, json=body, timeout=self.timeout(deployment)) as response,
        ):
            if response.status != 200:
                raise self.failure(response.status, response.headers, await response.read())
            yield response

    async def post_json(
        self, url: str, body: dict[str, Any], deployment: DeploymentSettings
    ) -> dict[str, Any]:
        async with self.post(url, body, deployment) as response:
            result = json.loads(await response.read())
        if not isinstance(result, dict):
            raise ProviderError("server", self.message("sent a body that is not an object"))
        return result

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _translated:
    """Turn aiohttp's and asyncio's failures into ProviderErrors (no URL, no key: only the
    failure's type)."""

    def __init__(self, http: HttpProvider) -> None:
        self.http = http

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> None:
        if exc is None or isinstance(exc, ProviderError | GeneratorExit | asyncio.CancelledError):
            return
        aiohttp = require("aiohttp", "gateway")
        if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
            raise ProviderError("timeout", self.http.message("timed out")) from exc
        if isinstance(exc, aiohttp.ClientError | ConnectionError):
            text = f"connection failed: {type(exc).__name__}"
            raise ProviderError("connection", self.http.message(text)) from exc
        if isinstance(exc, ValueError):
            raise ProviderError("server", self.http.message("sent invalid JSON")) from exc


async def sse_data(content: Any) -> AsyncIterator[bytes]:
    """The ``data:`` payloads of a Server-Sent-Events body, one per event line."""
    async for raw in content:
        line = raw.strip()
        if line.startswith(b"data:"):
            yield line[5:].strip()


async def json_lines(http: HttpProvider, content: Any) -> AsyncIterator[dict[str, Any]]:
    """The objects of an NDJSON body (blank lines skipped)."""
    async for raw in content:
        line = raw.strip()
        if line:
            yield decode_event(http, line)


def decode_event(http: HttpProvider, data: bytes) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise ProviderError("server", http.message("sent a malformed event")) from exc
    if not isinstance(event, dict):
        raise ProviderError("server", http.message("sent an event that is not an object"))
    return event
