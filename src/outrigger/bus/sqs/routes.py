"""Topic routing for SQS, which has none: the bindings live as tags on the bound queues.

``declare`` tags the subscription's queue with one tag per (exchange, pattern) binding; a
publisher lists the queues (``ListQueues`` by the configured prefix), reads their tags
(``ListQueueTags``), keeps that table for ``routes_ttl_s`` and sends a copy to every queue
whose bindings match. Every process sees the same bindings with no store besides SQS, and a
deleted queue takes its bindings with it. A publish that finds no match reads the tags again
before it reports the message unroutable, so a binding made a moment ago elsewhere is seen.

Tag values may only hold letters, digits, spaces and ``_ . : / = + - @``, so a binding is
stored as base64 of ``exchange\\npattern`` (``*`` and ``#`` are not allowed as they are).
A temporary queue also carries ``outrigger:expires`` (Unix seconds), pushed forward by its
consumer; whoever reads the tags after that time deletes the queue (its owner died).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from outrigger.bus.sqs.client import QueueMissing, SqsClient
from outrigger.bus.topics import topic_matches
from outrigger.errors import TransientError

log = logging.getLogger(__name__)

BIND_PREFIX = "outrigger:bind:"
EXPIRES = "outrigger:expires"
_MAX_TAG_VALUE = 256


def binding_tags(exchange: str, patterns: tuple[str, ...]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pattern in patterns:
        plain = f"{exchange}\n{pattern}".encode()
        value = base64.b64encode(plain).decode("ascii")
        if len(value) > _MAX_TAG_VALUE:
            raise TransientError(
                f"binding {pattern!r} on {exchange!r} is too long for an SQS tag (≤ 190 bytes)"
            )
        tags[BIND_PREFIX + hashlib.sha256(plain).hexdigest()[:16]] = value
    return tags


def read_bindings(tags: dict[str, str]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for key, value in tags.items():
        if not key.startswith(BIND_PREFIX):
            continue
        try:
            exchange, _, pattern = base64.b64decode(value).decode("utf-8").partition("\n")
        except (binascii.Error, UnicodeDecodeError):
            continue  # not ours after all
        out.add((exchange, pattern))
    return out


@dataclass
class _Table:
    read_at: float = float("-inf")
    #: queue URL -> its (exchange, pattern) bindings
    bindings: dict[str, set[tuple[str, str]]] = field(default_factory=dict)


class Routes:
    """Which queues a publish to (exchange, routing key) goes to, cached briefly."""

    def __init__(
        self,
        client: SqsClient,
        *,
        prefix: str,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_s
        self._clock = clock
        self._table = _Table()
        self._reading: asyncio.Task[None] | None = None
        self._local: set[str] = set()  # queues this process bound

    async def targets(self, exchange: str, routing_key: str) -> list[str]:
        """The URLs of the queues bound to ``exchange`` for ``routing_key``."""
        if self._clock() - self._table.read_at > self._ttl:
            await self.refresh()
        found = self._match(exchange, routing_key)
        if not found:
            await self.refresh(force=True)
            found = self._match(exchange, routing_key)
        return found

    def _match(self, exchange: str, routing_key: str) -> list[str]:
        return [
            url
            for url, bindings in self._table.bindings.items()
            if any(ex == exchange and topic_matches(p, routing_key) for ex, p in bindings)
        ]

    def bound(self, url: str, exchange: str, patterns: tuple[str, ...]) -> None:
        """Our own declare: seen at once by this process, whatever the cache's age (SQS's
        ListQueues may take a moment to show a new queue)."""
        self._local.add(url)
        self._table.bindings.setdefault(url, set()).update((exchange, p) for p in patterns)

    def gone(self, url: str) -> None:
        self._local.discard(url)
        self._table.bindings.pop(url, None)

    async def refresh(self, *, force: bool = False) -> None:
        """Read the bindings again. Concurrent callers share one read (and wake together,
        so their publishes still share ``SendMessageBatch`` calls); ``force`` waits for a read
        that starts after the call, the others accept one in progress."""
        started = self._clock()
        while True:
            if self._reading is None or self._reading.done():
                if not force and self._clock() - self._table.read_at <= self._ttl:
                    return
                if force and self._table.read_at >= started:
                    return
                self._reading = asyncio.create_task(self._read())
            reading = self._reading
            await asyncio.shield(reading)
            if not force or self._table.read_at >= started:
                return

    async def _read(self) -> None:
        urls = await self._list_urls()
        tags = await asyncio.gather(*(self._tags(url) for url in urls))
        table = _Table(read_at=self._clock())
        for url, queue_tags in zip(urls, tags, strict=True):
            if queue_tags is None:
                continue
            if self._expired(queue_tags):
                await self._reap(url)
                continue
            if bindings := read_bindings(queue_tags):
                table.bindings[url] = bindings
        for url, bindings in self._table.bindings.items():
            if url in self._local:  # our own declares, which ListQueues may not show yet
                table.bindings.setdefault(url, set()).update(bindings)
        self._table = table

    async def _list_urls(self) -> list[str]:
        urls: list[str] = []
        params: dict[str, object] = {"MaxResults": 1000}
        if self._prefix:
            params["QueueNamePrefix"] = self._prefix
        while True:
            page = await self._client.call("list_queues", **params)
            urls.extend(page.get("QueueUrls", []))
            if not (token := page.get("NextToken")):
                return urls
            params["NextToken"] = token

    async def _tags(self, url: str) -> dict[str, str] | None:
        try:
            return dict((await self._client.call("list_queue_tags", QueueUrl=url)).get("Tags", {}))
        except QueueMissing:
            return None  # deleted since it was listed

    def _expired(self, tags: dict[str, str]) -> bool:
        try:
            return EXPIRES in tags and float(tags[EXPIRES]) < self._clock()
        except ValueError:
            return False

    async def _reap(self, url: str) -> None:
        """A follower's queue whose owner stopped renewing it: its process died."""
        log.info("deleting the expired temporary queue %s", url)
        try:
            await self._client.call("delete_queue", QueueUrl=url)
        except TransientError as exc:
            log.warning("could not delete the expired queue %s: %s", url, exc)
