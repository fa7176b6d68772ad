"""Remove the durable queues and exchanges a test created on the shared RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterable


async def delete_rabbit_objects(
    url: str, queues: Iterable[str], exchanges: Iterable[str] = ()
) -> None:
    import aio_pika

    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for name in queues:
            await channel.queue_delete(name)  # deleting a missing queue is not an error
        for name in exchanges:
            await channel.exchange_delete(name)
    finally:
        await connection.close()


async def delete_queues(url: str, names: Iterable[str]) -> None:
    """Delete durable test queues (missing ones are fine)."""
    await delete_rabbit_objects(url, names)


async def delete_exchanges(url: str, names: Iterable[str]) -> None:
    """Delete test exchanges (missing ones are fine)."""
    await delete_rabbit_objects(url, (), names)
