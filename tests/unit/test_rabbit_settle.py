"""A RabbitMQ settle is bounded: aiormq waits without a limit to queue a frame on a connection
that died under it (seen after broker restarts: handlers stuck in an ack for good, the
worker's drain timing out). The broker's side is covered by the chaos tests; here, the
consumer's own rule: a settle that does not finish in time closes its channel, so the broker
gives the message back, and the handler goes on."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from outrigger.bus.rabbitmq.consumer import ConsumerState


class Channel:
    """A channel whose close completes only when the test lets it (``close_hangs``)."""

    def __init__(self, close_hangs: bool = False) -> None:
        self.is_closed = False
        self.closes = 0
        self.close_hangs = close_hangs

    async def close(self) -> None:
        self.closes += 1
        if self.close_hangs:
            await asyncio.Event().wait()
        self.is_closed = True


class Message:
    """A delivery whose ack waits for ever (a frame queued on a dead connection)."""

    def __init__(self) -> None:
        self.acks = 0

    async def ack(self) -> None:
        self.acks += 1
        await asyncio.Event().wait()

    async def nack(self, requeue: bool = True) -> None:
        await self.ack()


def state_of(channel: Channel) -> ConsumerState:
    return ConsumerState(cast(AbstractChannel, channel), timeout_s=0.05)


def settle_of(state: ConsumerState, message: Message) -> Any:
    state.outstanding += 1
    return state.settler(cast(AbstractIncomingMessage, message))


async def test_a_settle_that_hangs_ends_and_closes_its_channel() -> None:
    channel, message = Channel(), Message()
    state = state_of(channel)
    settle = settle_of(state, message)
    await asyncio.wait_for(settle(True, False), 5)  # returns: the handler goes on
    assert message.acks == 1 and state.outstanding == 0
    for _ in range(50):  # the close runs in the background
        if channel.is_closed:
            break
        await asyncio.sleep(0.01)
    assert channel.is_closed and channel.closes == 1


async def test_a_close_that_hangs_is_bounded_too() -> None:
    channel = Channel(close_hangs=True)
    state = state_of(channel)
    state.stopped = True
    await asyncio.wait_for(state.close_if_idle(), 5)
    assert channel.closes == 1 and not channel.is_closed  # given up: the connection is gone


async def test_a_settle_on_a_closed_channel_sends_nothing() -> None:
    channel, message = Channel(), Message()
    channel.is_closed = True
    state = state_of(channel)
    await asyncio.wait_for(settle_of(state, message)(True, False), 5)
    assert message.acks == 0 and channel.closes == 0 and state.outstanding == 0
