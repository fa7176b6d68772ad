"""One consumer's receive loop: long polls of up to 10 messages, bounded by ``prefetch``.

The receive runs on a pool thread (boto3 blocks) and cannot be interrupted; a consumer that
stops while a long poll is out sets ``stop``, and whatever that poll returns afterwards is
given back (visibility 0) on the same thread, even when the event loop is already gone, so
a stopped consumer never hides messages for a whole visibility timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncGenerator
from typing import Any

from outrigger.bus.base import Delivery
from outrigger.bus.delivery import CallbackDelivery, Settle
from outrigger.bus.sqs.client import QueueMissing, SqsClient
from outrigger.bus.sqs.codec import from_sqs
from outrigger.bus.sqs.settle import BATCH, Receipt, Settler
from outrigger.errors import TransientError

log = logging.getLogger(__name__)

RECEIVE_COUNT = "ApproximateReceiveCount"


class Consumer:
    def __init__(
        self, client: SqsClient, settler: Settler, url: str, *, prefetch: int, wait_s: int
    ) -> None:
        self._client = client
        self._settler = settler
        self.url = url
        self.prefetch = max(1, prefetch)
        self.wait_s = wait_s
        self.stop = threading.Event()
        self.outstanding = 0
        self._released = asyncio.Event()

    def _receive_blocking(self, count: int) -> list[dict[str, Any]]:
        got = self._client.call_blocking(
            "receive_message",
            QueueUrl=self.url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=self.wait_s,
            VisibilityTimeout=self._settler.vt,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=[RECEIVE_COUNT],
        )
        messages: list[dict[str, Any]] = got.get("Messages", [])
        if messages and self.stop.is_set():  # nobody will take these: give them back now
            with contextlib.suppress(TransientError):
                self._client.call_blocking(
                    "change_message_visibility_batch",
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                        for i, m in enumerate(messages)
                    ],
                )
            return []
        return messages

    async def _receive(self, count: int) -> list[dict[str, Any]]:
        return await self._client.run(self._receive_blocking, count)  # type: ignore[no-any-return]

    async def deliveries(self) -> AsyncGenerator[Delivery, None]:
        pending: list[Receipt] = []  # received, not yet handed out
        backoff = 0.5
        try:
            while not self.stop.is_set():
                free = self.prefetch - self.outstanding
                if free <= 0:
                    self._released.clear()
                    await self._released.wait()
                    continue
                try:
                    messages = await self._receive(min(BATCH, free))
                except QueueMissing:
                    raise
                except TransientError as exc:  # the network, throttling: keep trying
                    log.warning("SQS receive failed (retrying in %.1fs): %s", backoff, exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 0.5
                receipts = [Receipt(self.url, m["ReceiptHandle"]) for m in messages]
                self._settler.held.update(receipts)
                pending = list(receipts)
                for raw, receipt in zip(messages, receipts, strict=True):
                    pending.remove(receipt)
                    self.outstanding += 1
                    attempt = int(raw.get("Attributes", {}).get(RECEIVE_COUNT, "1"))
                    yield CallbackDelivery(from_sqs(raw), max(1, attempt), self._settle(receipt))
        finally:
            self.stop.set()
            if pending:  # received but never handed out
                with contextlib.suppress(TransientError):
                    await self._settler.give_back(pending)

    def _settle(self, receipt: Receipt) -> Settle:
        async def settle(ack: bool, requeue: bool) -> None:
            self.outstanding -= 1
            self._released.set()
            if receipt not in self._settler.held:
                return  # given back when the bus closed: it will be delivered again
            if ack or not requeue:
                await self._settler.ack(receipt)  # a drop is a delete too
            else:
                await self._settler.requeue(receipt)

        return settle
