"""What happens to received messages: kept invisible while worked on, deleted in batches,
given back.

* **Held**: every received, unsettled message is listed here; a keeper pushes its visibility
  timeout forward every third of it (``ChangeMessageVisibilityBatch``), so a slow pipeline
  never sees its event delivered to another worker mid-flight (SQS caps the total at 12 h).
* **Ack**: ``DeleteMessageBatch``; concurrent acks share one call (``MicroBatcher``, up to 10
  entries per call, SQS's limit), and each ack returns only once its own entry is confirmed
  deleted; a failed entry fails that ack with ``TransientError`` (the message reappears).
* **Nack with requeue**: visibility 0, so it is received again at once with a higher
  ``ApproximateReceiveCount``; without requeue: deleted (dropped, as AMQP's reject).
* **Give back** (a consumer stops, the bus closes): visibility 0 for everything held.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from outrigger.batching import MicroBatcher
from outrigger.bus.sqs.client import SqsClient
from outrigger.errors import TransientError

log = logging.getLogger(__name__)

BATCH = 10  # SQS's most entries per batch call


@dataclass(frozen=True, slots=True)
class Receipt:
    url: str
    handle: str


def chunks(items: Sequence[Receipt]) -> Iterable[tuple[str, list[tuple[int, Receipt]]]]:
    """(queue URL, up to 10 (index, receipt)) groups, indexes into ``items``."""
    by_url: dict[str, list[tuple[int, Receipt]]] = defaultdict(list)
    for i, receipt in enumerate(items):
        by_url[receipt.url].append((i, receipt))
    for url, entries in by_url.items():
        for start in range(0, len(entries), BATCH):
            yield url, entries[start : start + BATCH]


class Settler:
    def __init__(self, client: SqsClient, visibility_timeout_s: int) -> None:
        self._client = client
        self.vt = visibility_timeout_s
        self.held: set[Receipt] = set()
        self._deletes: MicroBatcher[Receipt, str | None] = MicroBatcher(
            self._delete_batch, max_size=64
        )

    async def ack(self, receipt: Receipt) -> None:
        try:
            error = await self._deletes.submit(receipt)
        finally:
            self.held.discard(receipt)
        if error is not None:
            raise TransientError(f"SQS did not delete the message: {error}")

    async def requeue(self, receipt: Receipt) -> None:
        self.held.discard(receipt)
        await self._client.call(
            "change_message_visibility",
            QueueUrl=receipt.url,
            ReceiptHandle=receipt.handle,
            VisibilityTimeout=0,
        )

    async def _delete_batch(self, items: Sequence[Receipt]) -> list[str | None]:
        errors: list[str | None] = ["not confirmed"] * len(items)
        for url, entries in chunks(items):
            try:
                result = await self._client.call(
                    "delete_message_batch",
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": r.handle} for i, r in entries],
                )
            except TransientError as exc:
                for i, _ in entries:
                    errors[i] = str(exc)
                continue
            for ok in result.get("Successful", []):
                errors[int(ok["Id"])] = None
            for failed in result.get("Failed", []):
                errors[int(failed["Id"])] = f"{failed.get('Code')}: {failed.get('Message')}"
        return errors

    async def set_visibility(self, receipts: Sequence[Receipt], seconds: int) -> None:
        """Visibility ``seconds`` for each receipt, 10 per call; failures are logged (the
        message then simply reappears when its current timeout ends)."""
        for url, entries in chunks(receipts):
            try:
                result = await self._client.call(
                    "change_message_visibility_batch",
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r.handle, "VisibilityTimeout": seconds}
                        for i, r in entries
                    ],
                )
            except TransientError as exc:
                log.warning("could not change the visibility of %d messages: %s", len(entries), exc)
                continue
            for failed in result.get("Failed", []):
                # An invalid handle: deleted meanwhile (an ack raced us), nothing to keep.
                quiet = failed.get("Code") == "ReceiptHandleIsInvalid"
                log.log(
                    logging.DEBUG if quiet else logging.WARNING,
                    "visibility not changed: %s",
                    failed.get("Message"),
                )

    async def extend_held(self) -> None:
        if self.held:
            await self.set_visibility(sorted(self.held, key=lambda r: r.url), self.vt)

    async def give_back(self, receipts: Iterable[Receipt]) -> None:
        back = list(receipts)
        self.held.difference_update(back)
        if back:
            await self.set_visibility(back, 0)
