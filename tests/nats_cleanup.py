"""Remove what a test made on the shared NATS server: its streams and the direct consumers
of its queues (the direct stream is shared by every queue)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import nats
from nats.errors import Error as NatsError

from outrigger.bus.nats.naming import entity_name
from outrigger.bus.nats.settings import NatsSettings


async def delete_nats_objects(url: str, queues: Sequence[str], streams: Sequence[str]) -> None:
    nc = await nats.connect(url)
    try:
        jsm = nc.jsm()
        for queue in queues:
            with contextlib.suppress(NatsError):
                await jsm.delete_consumer(NatsSettings().direct_stream, entity_name(queue))
        for stream in streams:
            with contextlib.suppress(NatsError):
                await jsm.delete_stream(entity_name(stream))
    finally:
        await nc.close()
