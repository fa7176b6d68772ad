"""The environment of an ``outrigger`` process on each bus, for tests that run the CLI or a
worker: unique names per test, the broker's URL and settings, and the clean-up afterwards.

``make_env`` builds it (``OUTRIGGER_*`` variables for one broker kind); ``cleanup`` removes
what the test made on the shared broker (queues, exchanges, streams, topics, keys);
``holds`` asks the broker whether it still has a subscription in any form, so a test can
check that a temporary one (``events tail``) is really gone.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kafka_broker import worker_env as kafka_worker_env
from tests.nats_cleanup import delete_nats_objects
from tests.rabbit_cleanup import delete_rabbit_objects
from tests.redis_cleanup import delete_redis_keys

#: Every broker kind an ``outrigger`` process runs on, as fixture parameters with the marks
#: the other tests use (the embedded SQLite bus needs no service).
KINDS = ("sqlite", "rabbitmq", "kafka", "nats", "redis", "sqs")


def bus_params(kinds: tuple[str, ...] = KINDS) -> list[object]:
    return [k if k == "sqlite" else pytest.param(k, marks=getattr(pytest.mark, k)) for k in kinds]


@dataclass
class BusEnv:
    kind: str
    #: ``<prefix>.<tag>``: every name the test makes starts with it.
    base: str
    env: dict[str, str]

    @property
    def exchange(self) -> str:
        return self.env["OUTRIGGER_BUS__EXCHANGE"]

    @property
    def queue(self) -> str:
        return self.env["OUTRIGGER_BUS__QUEUE"]

    @property
    def dlq(self) -> str:
        return self.env["OUTRIGGER_BUS__DEAD_LETTER_QUEUE"]

    def name(self, suffix: str) -> str:
        """A further queue in the test's namespace (removed by ``cleanup``)."""
        return f"{self.base}.{suffix}"

    @property
    def _dashed(self) -> str:  # for names that take no dots (key and queue prefixes)
        return self.base.replace(".", "-")


def make_env(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    prefix: str,
    *,
    redelivery_s: float | None = None,
) -> BusEnv:
    """The environment for the broker kind that is the fixture's parameter, with names
    unique to this test (``<prefix>.<tag>.events``, ``.work``, ``.dlq``). ``redelivery_s``: how soon a killed consumer's unacknowledged messages come
    back (the SQLite and SQS visibility timeout, Redis's claim idle, NATS's ack wait)."""
    kind = str(request.param)
    base = f"{prefix}.{uuid.uuid4().hex[:8]}"
    made = BusEnv(kind, base, {})
    env = made.env
    env.update({
        "OUTRIGGER_DATA_DIR": str(tmp_path),
        "OUTRIGGER_BUS__KIND": kind,
        "OUTRIGGER_BUS__EXCHANGE": f"{base}.events",
        "OUTRIGGER_BUS__QUEUE": f"{base}.work",
        "OUTRIGGER_BUS__DEAD_LETTER_QUEUE": f"{base}.dlq",
        "OUTRIGGER_TELEMETRY__METRICS_PORT": "0",
    })  # fmt: skip
    if kind == "sqlite" and redelivery_s is not None:
        env["OUTRIGGER_BUS__SQLITE__VISIBILITY_TIMEOUT_S"] = _int(redelivery_s)
    if kind == "rabbitmq":  # a killed consumer's deliveries go back at once
        env["OUTRIGGER_BUS__RABBITMQ__URL"] = request.getfixturevalue("rabbitmq_url")
        env["OUTRIGGER_BUS__RABBITMQ__DECLARE_EXCHANGES"] = "true"
    if kind == "kafka":  # a killed member's partitions move after its session timeout
        env.update(kafka_worker_env(request.getfixturevalue("kafka_bootstrap")))
    if kind == "redis":
        env["OUTRIGGER_BUS__REDIS__URL"] = request.getfixturevalue("redis_url")
        env["OUTRIGGER_BUS__REDIS__KEY_PREFIX"] = made._dashed
        if redelivery_s is not None:  # a killed consumer's entries are claimed once this idle
            env["OUTRIGGER_BUS__REDIS__CLAIM_IDLE_S"] = str(redelivery_s)
    if kind == "nats":
        env["OUTRIGGER_BUS__NATS__URL"] = request.getfixturevalue("nats_url")
        env["OUTRIGGER_BUS__NATS__CREATE_STREAMS"] = "true"
        if redelivery_s is not None:  # a killed worker's deliveries come back after ack_wait
            env["OUTRIGGER_BUS__NATS__ACK_WAIT_S"] = str(redelivery_s)
    if kind == "sqs":  # moto's server mode; short polls keep stops quick
        env["OUTRIGGER_BUS__SQS__ENDPOINT_URL"] = request.getfixturevalue("sqs_endpoint")
        env["OUTRIGGER_BUS__SQS__QUEUE_PREFIX"] = f"{made._dashed}-"
        env["OUTRIGGER_BUS__SQS__WAIT_TIME_S"] = "1"
        if redelivery_s is not None:
            env["OUTRIGGER_BUS__SQS__VISIBILITY_TIMEOUT_S"] = _int(redelivery_s)
    return made


def _int(seconds: float) -> str:
    return str(max(1, round(seconds)))


async def cleanup(made: BusEnv, queues: list[str] | tuple[str, ...] = ()) -> None:
    """Remove what the test made on the shared broker: its queues (the work queue, the
    dead-letter queue and ``queues``), its exchange and everything under its prefix."""
    env, base = made.env, made.base
    every = [made.queue, made.dlq, *queues]
    if made.kind == "rabbitmq":
        await delete_rabbit_objects(env["OUTRIGGER_BUS__RABBITMQ__URL"], every, [made.exchange])
    if made.kind == "nats":
        await delete_nats_objects(env["OUTRIGGER_BUS__NATS__URL"], every, [made.exchange, made.dlq])
    if made.kind == "redis":
        await delete_redis_keys(env["OUTRIGGER_BUS__REDIS__URL"], made._dashed, [made.exchange])
    if made.kind == "sqs":
        from tests.contract.bus.test_sqs import delete_queues

        await delete_queues(env["OUTRIGGER_BUS__SQS__ENDPOINT_URL"], f"{made._dashed}-")
    if made.kind == "kafka":
        await _delete_kafka_objects(env["OUTRIGGER_BUS__KAFKA__BOOTSTRAP_SERVERS"], base)


async def _delete_kafka_objects(bootstrap: str, base: str) -> None:
    """The topics (domain, queue and attempts topics) and consumer groups named under
    ``base``; tansu keeps them in memory for the whole session otherwise."""
    from confluent_kafka.admin import AdminClient

    from outrigger.bus.kafka.client import admin_call, in_thread

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = await in_thread(lambda: admin.list_topics(timeout=10))
    doomed = [t for t in topics.topics if base in t]
    groups = [g for g in await _kafka_groups(admin) if base in g]
    with contextlib.suppress(Exception):  # a group a closing consumer still leaves
        if groups:
            await admin_call(lambda: admin.delete_consumer_groups(groups))
    if doomed:
        await admin_call(lambda: admin.delete_topics(doomed))


async def _kafka_groups(admin: object) -> list[str]:
    from outrigger.bus.kafka.client import in_thread

    found = await in_thread(lambda: admin.list_consumer_groups().result(timeout=10))  # type: ignore[attr-defined]
    return [g.group_id for g in found.valid]


async def holds(made: BusEnv, queue: str) -> bool:
    """Whether the broker still holds the subscription ``queue`` in any form (its queue,
    bindings, consumer, group or topics): what a stopped ``events tail`` must leave none of."""
    env = made.env
    if made.kind == "sqlite":
        return queue in _sqlite_queues(Path(env["OUTRIGGER_DATA_DIR"]) / "bus.sqlite3")
    if made.kind == "rabbitmq":
        return await _rabbit_holds(env["OUTRIGGER_BUS__RABBITMQ__URL"], queue)
    if made.kind == "kafka":
        return queue in await _kafka_subscriptions(env["OUTRIGGER_BUS__KAFKA__BOOTSTRAP_SERVERS"])
    if made.kind == "nats":
        return queue in await _nats_consumers(env["OUTRIGGER_BUS__NATS__URL"], made.exchange)
    if made.kind == "redis":
        return queue in await _redis_queues(env["OUTRIGGER_BUS__REDIS__URL"], made)
    if made.kind == "sqs":
        from outrigger.bus.sqs.codec import queue_name

        prefix = f"{made._dashed}-"
        names = await _sqs_queues(env["OUTRIGGER_BUS__SQS__ENDPOINT_URL"], prefix)
        return queue_name(queue, prefix=prefix) in names
    raise ValueError(made.kind)


def _sqlite_queues(path: Path) -> set[str]:
    import sqlite3

    if not path.exists():
        return set()
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT queue FROM bindings UNION SELECT queue FROM temporary_queues"
            " UNION SELECT DISTINCT queue FROM messages"
        ).fetchall()
    return {str(q) for (q,) in rows}


async def _rabbit_holds(url: str, queue: str) -> bool:
    """A passive declare: missing is 404; another connection's exclusive queue is 405."""
    import aio_pika
    from aiormq.exceptions import ChannelLockedResource, ChannelNotFoundEntity

    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        try:
            await channel.declare_queue(queue, passive=True)
        except ChannelNotFoundEntity:
            return False
        except ChannelLockedResource:
            return True
        return True
    finally:
        await connection.close()


async def _kafka_subscriptions(bootstrap: str) -> set[str]:
    """The queues that have a consumer group, a queue topic or an attempts log."""
    from confluent_kafka.admin import AdminClient

    from outrigger.bus.kafka.client import in_thread
    from outrigger.bus.kafka.settings import KafkaSettings

    attempts = KafkaSettings().attempts_prefix
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = await in_thread(lambda: admin.list_topics(timeout=10))
    names = {t.removeprefix(attempts) for t in topics.topics}
    return names | set(await _kafka_groups(admin))


async def _nats_consumers(url: str, exchange: str) -> set[str]:
    """The queues of the consumers on the exchange's stream (from their descriptions)."""
    import nats
    from nats.js.errors import NotFoundError

    from outrigger.bus.nats.naming import QueueSpec, entity_name

    nc = await nats.connect(url)
    try:
        try:
            infos = await nc.jsm().consumers_info(entity_name(exchange))
        except NotFoundError:
            return set()
        names = set()
        for info in infos:
            spec = QueueSpec.parse(info.config.description)
            names.add(spec.queue if spec else str(info.name))
        return names
    finally:
        await nc.close()


async def _redis_queues(url: str, made: BusEnv) -> set[str]:
    """The queues Redis knows: the queue index, the exchange's bindings, the followers'
    expiry set and the consumer groups on the exchange's stream."""
    import json

    from redis.asyncio import Redis
    from redis.exceptions import ResponseError

    prefix = made._dashed
    client = Redis.from_url(url, decode_responses=True)
    try:
        names = set(await client.hkeys(f"{prefix}:queues"))
        names |= set(await client.hkeys(f"{prefix}:bindings:{made.exchange}"))
        names |= {json.loads(m)[1] for m in await client.zrange(f"{prefix}:temporary", 0, -1)}
        with contextlib.suppress(ResponseError):  # no stream yet
            names |= {g["name"] for g in await client.xinfo_groups(made.exchange)}
        return names
    finally:
        await client.aclose()


async def _sqs_queues(endpoint: str, prefix: str) -> set[str]:
    from outrigger.bus.sqs.client import SqsClient
    from outrigger.bus.sqs.settings import SqsSettings

    client = SqsClient(SqsSettings(endpoint_url=endpoint))
    await client.start()
    try:
        urls = (await client.call("list_queues", QueueNamePrefix=prefix)).get("QueueUrls", [])
        return {str(url).rsplit("/", 1)[-1] for url in urls}
    finally:
        await client.close()
