"""boto3's SQS client behind an asyncio face: every call runs on the bus's own thread pool.

boto3 is blocking, and it is the SDK the rest of Outrigger already pins (the ``s3`` extra);
aiobotocore would pin botocore to its own narrow range. A long-polling receive holds one
thread for up to ``wait_time_s``, so the pool is sized by ``max_connections`` and the HTTP
connection pool with it. Every SDK error becomes a ``TransientError`` naming the operation;
a missing queue is ``QueueMissing`` so callers can tell it apart.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from outrigger.bus.sqs.settings import SqsSettings
from outrigger.errors import TransientError

log = logging.getLogger(__name__)

_MISSING = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


class QueueMissing(TransientError):
    """The queue does not exist (never declared, or deleted)."""


class SqsClient:
    def __init__(self, settings: SqsSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._urls: dict[str, str] = {}  # SQS queue name -> its URL

    @property
    def where(self) -> str:
        return self.settings.endpoint_url or f"AWS SQS in {self.settings.region}"

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(
            self.settings.max_connections, thread_name_prefix="outrigger-sqs"
        )
        try:
            self._client = await self.run(self._make_client)
            await self.call("list_queues", MaxResults=1)  # reachable, credentials accepted
        except BaseException:
            await self.close()
            raise

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config  # type: ignore[import-untyped]

        s = self.settings
        config = Config(
            region_name=s.region,
            max_pool_connections=s.max_connections,
            connect_timeout=5,
            read_timeout=s.wait_time_s + 10,  # a long poll is not a stall
            retries={"mode": "standard", "max_attempts": 3},
        )
        # Credentials: boto3's own chain only (environment, files, roles), never settings.
        return boto3.session.Session().client(
            "sqs", endpoint_url=s.endpoint_url or None, config=config
        )

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            # A long poll in flight finishes on its own thread (and gives back what it got).
            executor.shutdown(wait=False, cancel_futures=True)
        self._urls.clear()

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._executor is None:
            raise TransientError("the SQS bus is not started")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(fn, *args, **kwargs)
            )
        except RuntimeError as exc:  # the pool was shut down by close()
            raise TransientError(f"the SQS bus is closed: {exc}") from None

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """``client.<operation>(**params)`` on the pool; errors become ``TransientError``."""
        if self._client is None:
            raise TransientError("the SQS bus is not started")
        return await self.run(self.call_blocking, operation, **params)  # type: ignore[no-any-return]

    def call_blocking(self, operation: str, **params: Any) -> dict[str, Any]:
        """The same call on the current thread (for work that must finish on a pool thread)."""
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
        )

        try:
            result: dict[str, Any] = getattr(self._client, operation)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("QueryErrorCode") or error.get("Code") or "")
            text = f"SQS {operation} failed: {error.get('Code')}: {error.get('Message')}"
            if code in _MISSING or error.get("Code") in _MISSING:
                raise QueueMissing(text) from None
            raise TransientError(text) from None
        except BotoCoreError as exc:  # no endpoint, no credentials, timeouts
            raise TransientError(f"SQS {operation} at {self.where} failed: {exc}") from None
        return result

    # -- queues --------------------------------------------------------------------------

    async def url(self, name: str) -> str:
        """The URL of the SQS queue ``name`` (looked up once); ``QueueMissing`` if absent."""
        if (cached := self._urls.get(name)) is not None:
            return cached
        found = str((await self.call("get_queue_url", QueueName=name))["QueueUrl"])
        self._urls[name] = found
        return found

    def forget(self, name: str) -> None:
        self._urls.pop(name, None)

    def forget_url(self, url: str) -> None:
        for name in [n for n, u in self._urls.items() if u == url]:
            del self._urls[name]

    async def create(self, name: str, attributes: dict[str, str], tags: dict[str, str]) -> str:
        """Create the queue if absent (idempotent), then set ``tags`` on it (CreateQueue
        leaves an existing queue's tags alone)."""
        try:
            created = await self.call("create_queue", QueueName=name, Attributes=attributes)
            url = str(created["QueueUrl"])
        except TransientError as exc:
            if "QueueAlreadyExists" not in str(exc):
                raise
            # Made by someone else with other attributes (the domain's own queue): use it.
            log.info("queue %s exists with other attributes; using it as it is", name)
            url = await self.url(name)
        if tags:
            await self.call("tag_queue", QueueUrl=url, Tags=tags)
        self._urls[name] = url
        return url
