"""The bus contract on SQS standard queues, through moto's server mode (tests/sqs_server.py).

Standard queues promise no order (``fifo=False``); moto happens to keep publish order, so
the per-key order test passes here but says nothing about AWS, where ``fifo=true`` (FIFO
queues, tests/integration/test_sqs_bus.py) is what keeps order.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from outrigger.bus.sqs.settings import SqsSettings
from tests.contract.bus.base import BusContract, DeadLetterContract
from tests.contract.bus.kits import BusKit, Pair

pytestmark = pytest.mark.sqs


async def delete_queues(endpoint: str, prefix: str) -> None:
    """Remove every queue a test made (they all share the kit's prefix)."""
    from outrigger.bus.sqs.client import SqsClient

    client = SqsClient(SqsSettings(endpoint_url=endpoint))
    await client.start()
    try:
        urls = (await client.call("list_queues", QueueNamePrefix=prefix)).get("QueueUrls", [])
        for url in urls:
            await client.call("delete_queue", QueueUrl=url)
    finally:
        await client.close()


def sqs_kit(endpoint: str, **overrides: object) -> BusKit:
    from outrigger.bus.sqs.bus import SqsBus
    from outrigger.bus.sqs.dlq import SqsDeadLetterQueue

    tag = uuid.uuid4().hex[:10]
    prefix = f"ot{tag}-"
    settings = SqsSettings.model_validate(
        {"endpoint_url": endpoint, "queue_prefix": prefix, "wait_time_s": 2, **overrides}
    )

    async def open_pair() -> Pair:
        bus = SqsBus(settings)
        await bus.start()
        return bus, SqsDeadLetterQueue(bus, "dlq")

    kit = BusKit("sqs", "domain.events", open_pair, durable=True, fifo=False)
    kit.cleanup = lambda: delete_queues(endpoint, prefix)
    return kit


@pytest.fixture
async def kit(sqs_endpoint: str) -> AsyncIterator[BusKit]:
    made = sqs_kit(sqs_endpoint)
    yield made
    await made.close_all()


class TestSqsBus(BusContract):
    pass


class TestSqsDeadLetters(DeadLetterContract):
    pass
