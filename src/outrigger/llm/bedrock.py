"""AWS Bedrock through the Converse and ConverseStream APIs of the AWS SDK (extra ``bedrock``).

The SDK signs every request (SigV4) with credentials from its own chain: environment
variables, the shared files (``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``: mounted
secrets), web identity (IRSA on EKS), container and instance roles; or the named profile
``aws_profile``. Outrigger never reads or holds them. One provider serves one region
(``aws_region``), so data residency stays a deployment's ``region``; ``base_url``, when set,
replaces the regional endpoint (a VPC endpoint, or the tests' stand-in).

boto3 blocks, so every call runs on this adapter's own thread pool (sized by
``max_connections``, as the SDK's connection pool). A stream is read one event per pool
task, so a slow consumer holds no thread and closing the stream early closes the HTTP
response. The SDK never retries (the proxy does): one attempt per call. ``timeout_s`` (or a
deployment's own) is the SDK's read timeout, i.e. the longest wait for the answer or for the
next streamed event; there is one SDK client per distinct timeout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from outrigger.config.llm import DeploymentSettings, ProviderSettings
from outrigger.llm.bedrock_errors import provider_error
from outrigger.llm.bedrock_request import converse_kwargs, forced_json_tool
from outrigger.llm.bedrock_response import ChunkTranslator, completion, completion_id
from outrigger.llm.types import ChatRequest, ProviderError
from outrigger.optional import require

T = TypeVar("T")
_END = object()  # the stream's iterator is exhausted (StopIteration cannot cross a future)


class BedrockConverse:
    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None = None) -> None:
        if api_key:
            raise ValueError(
                f"llm.providers.{name}: kind 'bedrock' signs with AWS credentials from the "
                "SDK's chain or aws_profile; remove api_key_file / api_key_env"
            )
        require("boto3", "bedrock")  # fail at start-up, with the extra to install
        self.name = name
        self.settings = settings
        self._executor = ThreadPoolExecutor(
            settings.max_connections, thread_name_prefix=f"outrigger-bedrock-{name}"
        )
        self._lock = threading.Lock()  # boto3 sessions are not thread-safe; clients are
        self._session: Any = None
        self._clients: dict[float, Any] = {}  # read timeout -> SDK client

    def _timeout(self, deployment: DeploymentSettings) -> float:
        return deployment.timeout_s or self.settings.timeout_s

    def _client(self, timeout: float) -> Any:
        """The SDK client with this read timeout (made once, on a pool thread)."""
        with self._lock:
            client = self._clients.get(timeout)
            if client is None:
                client = self._clients[timeout] = self._make_client(timeout)
            return client

    def _make_client(self, timeout: float) -> Any:
        import boto3
        from botocore.config import Config  # type: ignore[import-untyped]

        s = self.settings
        if self._session is None:
            self._session = boto3.session.Session(profile_name=s.aws_profile)
        config = Config(
            region_name=s.aws_region,
            connect_timeout=s.connect_timeout_s,
            read_timeout=timeout,
            max_pool_connections=s.max_connections,
            retries={"mode": "standard", "total_max_attempts": 1},  # the proxy retries
            user_agent_extra="outrigger",
        )
        return self._session.client("bedrock-runtime", endpoint_url=s.base_url, config=config)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            future = self._executor.submit(fn, *args)
        except RuntimeError:  # shut down by close()
            raise ProviderError("unavailable", f"provider {self.name} is closed") from None
        return await asyncio.wrap_future(future)

    def _call(self, operation: str, timeout: float, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``client.<operation>(**kwargs)``, on a pool thread; SDK errors as ProviderErrors."""
        try:
            answer: dict[str, Any] = getattr(self._client(timeout), operation)(**kwargs)
        except Exception as exc:
            raise self._translated(exc) from None
        return answer

    def _next(self, events: Any) -> Any:
        try:
            return next(events, _END)
        except Exception as exc:
            raise self._translated(exc) from None

    def _translated(self, exc: Exception) -> Exception:
        if isinstance(exc, ProviderError):
            return exc
        return provider_error(self.name, exc) or exc

    async def complete(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> dict[str, Any]:
        kwargs = converse_kwargs(self.name, deployment.model, request)
        answer = await self._run(self._call, "converse", self._timeout(deployment), kwargs)
        return completion(deployment.model, answer, json_mode=forced_json_tool(request))

    async def stream(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        kwargs = converse_kwargs(self.name, deployment.model, request)
        answer = await self._run(self._call, "converse_stream", self._timeout(deployment), kwargs)
        body = answer["stream"]
        translator = ChunkTranslator(
            completion_id(answer), deployment.model, forced_json_tool(request)
        )
        events = iter(body)
        try:
            while (event := await self._run(self._next, events)) is not _END:
                for chunk in translator.chunks(event):
                    yield chunk
            if not translator.done:
                raise ProviderError(
                    "connection", f"provider {self.name} ended the stream before its metadata"
                )
        finally:
            # Early exit (the client left, a guard withheld the rest) or a failure: drop the
            # HTTP response. A read still waiting on a pool thread ends at its read timeout.
            body.close()

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
