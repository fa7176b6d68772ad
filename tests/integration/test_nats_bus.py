"""NATS JetStream beyond the shared contract: two workers on one durable consumer, a
connection cut mid-stream, temporary consumers, the CloudEvents NATS binding, naming."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from outrigger.bus.base import BusMessage, Subscription
from outrigger.bus.nats.bus import NatsBus
from outrigger.bus.nats.dlq import NatsDeadLetterQueue
from outrigger.bus.nats.settings import NatsSettings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.engine.results import result_id
from outrigger.errors import TransientError
from tests.integration.worker_process import WorkerProcess
from tests.nats_cleanup import delete_nats_objects

pytestmark = [pytest.mark.nats, pytest.mark.timeout(240)]
PIPELINE = "credit-risk-assessment"
RESULTS = ("ai.assessment.completed",)


@pytest.fixture
async def names(nats_url: str) -> AsyncIterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    made = {k: f"nats.{tag}.{k}" for k in ("events", "work", "dlq", "results", "core")}
    yield made
    queues = [made["work"], made["results"], made["core"]]
    await delete_nats_objects(nats_url, queues, [made["events"], made["dlq"]])


#: The worker's and the test bus's ack wait: unacknowledged messages return after it.
ACK_WAIT_S = 3


def worker_env(tmp: Path, url: str, names: dict[str, str]) -> dict[str, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    return {
        "OUTRIGGER_DATA_DIR": str(tmp),
        "OUTRIGGER_BUS__KIND": "nats",
        "OUTRIGGER_BUS__EXCHANGE": names["events"],
        "OUTRIGGER_BUS__QUEUE": names["work"],
        "OUTRIGGER_BUS__DEAD_LETTER_QUEUE": names["dlq"],
        "OUTRIGGER_BUS__NATS__URL": url,
        "OUTRIGGER_BUS__NATS__CREATE_STREAMS": "true",
        "OUTRIGGER_BUS__NATS__ACK_WAIT_S": str(ACK_WAIT_S),
        "OUTRIGGER_WORKER__PREFETCH": "32",
        "OUTRIGGER_LOG_LEVEL": "WARNING",
        "OUTRIGGER_TELEMETRY__METRICS_PORT": "0",
    }


async def open_bus(url: str) -> NatsBus:
    bus = NatsBus(url, NatsSettings(create_streams=True, ack_wait_s=ACK_WAIT_S, nak_delay_s=0.2))
    await bus.start()
    return bus


async def declare(bus: NatsBus, names: dict[str, str]) -> None:
    await bus.declare(Subscription(names["results"], names["events"], RESULTS))
    await bus.declare(Subscription(names["work"], names["events"], ("loans.#",)))


async def queue_events(bus: NatsBus, names: dict[str, str], count: int, seed: int = 7) -> set[str]:
    """Declare the work and results queues, publish ``count`` applications; the expected
    result ids."""
    await declare(bus, names)
    service = LoanService(holdout_rows(), random.Random(seed))
    expected = set()
    for _ in range(count):
        event_id, message = service.cloudevent()
        expected.add(result_id(event_id, PIPELINE, 1))
        await bus.publish(message, exchange=names["events"])
    return expected


async def collect(bus: NatsBus, names: dict[str, str], seen: dict[str, int]) -> None:
    async for delivery in bus.consume(
        Subscription(names["results"], names["events"], RESULTS), prefetch=500
    ):
        event = json.loads(delivery.message.body)
        seen[event["id"]] = seen.get(event["id"], 0) + 1
        await delivery.ack()


async def drained(bus: NatsBus, queue: str, timeout: float = 30) -> bool:
    """Whether ``queue`` has nothing left to deliver. On NATS 2.9 the worker's consumer
    filters on ``<exchange>.>`` (its two bindings share no prefix) and passes over the
    results published to the same exchange: they count until it has."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await bus.depth(queue) == 0:
            return True
        await asyncio.sleep(0.1)
    return False


async def wait_until(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False


def handled_by(data_dir: Path) -> int:
    """Results a worker recorded in its own idempotency store."""
    with contextlib.closing(sqlite3.connect(data_dir / "outrigger.sqlite3")) as db:
        return int(db.execute("select count(*) from idempotency_keys").fetchone()[0])


@pytest.mark.slow
async def test_two_workers_share_one_durable_consumer(
    nats_url: str, names: dict[str, str], tmp_path: Path
) -> None:
    """Two worker processes on one queue: the work is shared, each event gets exactly one
    result (their idempotency stores are separate: only the broker keeps them apart)."""
    bus = await open_bus(nats_url)
    await declare(bus, names)
    workers = [
        WorkerProcess(worker_env(tmp_path / f"w{n}", nats_url, names), tmp_path / f"w{n}.log")
        for n in range(2)
    ]
    seen: dict[str, int] = {}
    collector = asyncio.create_task(collect(bus, names, seen))
    try:
        for worker in workers:
            worker.start()
        # Both are pulling (their pull requests wait on the consumer) before any event.
        stream = await bus.stream_for(names["events"])
        consumer = names["work"].replace(".", "_")
        waiting = 0
        for _ in range(300):
            waiting = (await bus.js.consumer_info(stream, consumer)).num_waiting or 0
            if waiting >= 2:
                break
            await asyncio.sleep(0.1)
        assert waiting >= 2, workers[0].output() + workers[1].output()
        expected = await queue_events(bus, names, 400)
        done = await wait_until(lambda: expected <= set(seen), 180)
        assert done, workers[0].output() + workers[1].output()
        await asyncio.sleep(1)  # a duplicate would show up now
        assert await drained(bus, names["work"])
        for worker in workers:
            assert worker.terminate() == 0, worker.output()
    finally:
        for worker in workers:
            worker.cleanup()
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
    assert set(seen) == expected
    assert all(n == 1 for n in seen.values()), "an event got two results"
    shares = [handled_by(tmp_path / f"w{n}") for n in range(2)]
    assert sum(shares) == len(expected) and min(shares) > 0, shares
    assert await NatsDeadLetterQueue(bus, names["dlq"]).count() == 0
    assert await bus.depth(names["work"]) == 0
    await bus.close()


class CutProxy:
    """A TCP proxy in front of NATS whose connections can be cut (a broken network)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.links: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return f"nats://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.links.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    def cut(self) -> int:
        links, self.links = self.links, set()
        for writer in links:
            writer.transport.abort()
        return len(links) // 2

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


@pytest.mark.slow
async def test_connection_cut_mid_stream_loses_nothing(
    nats_url: str, names: dict[str, str], tmp_path: Path
) -> None:
    """The worker's connection is cut twice mid-stream: it reconnects by itself, and every
    event still gets its result; nothing is left in the queue or dead-lettered."""
    proxy = CutProxy(int(nats_url.rsplit(":", 1)[1]))
    proxied = await proxy.start()
    bus = await open_bus(nats_url)
    expected = await queue_events(bus, names, 500)
    seen: dict[str, int] = {}
    collector = asyncio.create_task(collect(bus, names, seen))
    worker = WorkerProcess(worker_env(tmp_path / "w", proxied, names), tmp_path / "w.log")
    try:
        worker.start()
        for threshold in (100, 300):
            assert await wait_until(lambda t=threshold: len(seen) >= t, 120), worker.output()
            assert proxy.cut() >= 1
        # The last events go out after the cuts: the collector reads results in bursts of
        # hundreds, and the worker could otherwise finish before the test saw it cut.
        expected |= await queue_events(bus, names, 100, seed=8)
        assert await wait_until(lambda: expected <= set(seen), 120), worker.output()
        # An ack lost in a cut brings its message back after the ack wait, and its repeated
        # result, published to the exchange the worker reads, waits for the worker too: a
        # full run once stopped the worker just before that and found it pending. Wait past
        # the ack wait before trusting the depth.
        await asyncio.sleep(ACK_WAIT_S + 1)
        assert await drained(bus, names["work"]), "redelivered work was left in the queue"
        assert worker.alive()
        assert worker.terminate() == 0, worker.output()
    finally:
        worker.cleanup()
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        await proxy.close()
    assert set(seen) == expected
    assert await NatsDeadLetterQueue(bus, names["dlq"]).count() == 0
    assert await bus.depth(names["work"]) == 0
    await bus.close()


async def test_temporary_subscription_copies_and_is_removed(
    nats_url: str, names: dict[str, str]
) -> None:
    bus = await open_bus(nats_url)
    core = Subscription(names["core"], names["events"], ("ai.#",))
    await bus.declare(core)
    tail = Subscription(f"{names['core']}.tail.x", names["events"], ("ai.*.completed",), True)
    stream = bus.consume(tail, prefetch=10)
    pull = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.2)
    await bus.publish(
        BusMessage(b"{}", "ai.assessment.completed", {}, "r-1"), exchange=names["events"]
    )
    copy = await asyncio.wait_for(pull, 10)
    assert copy.message.message_id == "r-1"
    await copy.ack()
    await stream.aclose()  # type: ignore[attr-defined]
    assert await bus.depth(core.queue) == 1, "the core service's queue lost its copy"
    stream_name = await bus.stream_for(names["events"])
    consumers = [c.name for c in await bus.js.consumers_info(stream_name)]
    assert consumers == ["nats_" + names["core"].split(".", 1)[1].replace(".", "_")]
    await bus.close()


async def test_cloudevents_binary_mode_uses_ce_headers_on_the_wire(
    nats_url: str, names: dict[str, str]
) -> None:
    bus = await open_bus(nats_url)
    sub = Subscription(names["core"], names["events"], ("loans.*",))
    await bus.declare(sub)
    raw = await nats.connect(nats_url)
    try:
        watch = await raw.subscribe(f"{names['events']}.>")
        message = BusMessage(
            b'{"x": 1}',
            "loans.a",
            {"cloudEvents_type": "t", "cloudEvents_id": "1"},
            "1",
            "application/json",
        )
        await bus.publish(message, exchange=names["events"])
        wire = await watch.next_msg(timeout=5)
        assert wire.headers is not None
        assert wire.headers["ce-type"] == "t" and wire.headers["x-outrigger-message-id"] == "1"
        assert wire.headers["Content-Type"] == "application/json"
        assert not any(k.startswith("cloudEvents_") for k in wire.headers)
        # A domain service publishing with the NATS binding: the engine sees cloudEvents_.
        await raw.jetstream().publish(
            f"{names['events']}.loans.b",
            b"{}",
            headers={"ce-id": "2", "ce-type": "u", "Nats-Msg-Id": "n2"},
        )
        deliveries = bus.consume(sub, prefetch=5)
        first, second = [await asyncio.wait_for(anext(deliveries), 10) for _ in range(2)]
        assert first.message.headers["cloudEvents_type"] == "t"
        assert second.message.headers == {"cloudEvents_id": "2", "cloudEvents_type": "u"}
        assert second.message.routing_key == "loans.b"
        assert second.message.message_id == "n2"
        await deliveries.aclose()  # type: ignore[attr-defined]
    finally:
        await raw.close()
        await bus.close()


async def test_bindings_nats_cannot_express_are_refused(
    nats_url: str, names: dict[str, str]
) -> None:
    bus = await open_bus(nats_url)
    with pytest.raises(TransientError, match="multi-word wildcard"):
        await bus.declare(Subscription(names["core"], names["events"], ("loans.#.filed",)))
    await bus.close()


async def test_several_bindings_filter_client_side(nats_url: str, names: dict[str, str]) -> None:
    """One consumer filter covers both bindings (NATS 2.9); what neither binding matches is
    unroutable on publish, and never handed out."""
    bus = await open_bus(nats_url)
    sub = Subscription(names["core"], names["events"], ("loans.*.submitted", "claims.#"))
    await bus.declare(sub)
    with pytest.raises(TransientError, match="unroutable"):
        await bus.publish(BusMessage(b"1", "loans.x.closed"), exchange=names["events"])
    raw = await nats.connect(nats_url)  # another client may publish what we would refuse
    await raw.jetstream().publish(f"{names['events']}.loans.x.closed", b"1")
    await raw.close()
    await bus.publish(BusMessage(b"2", "claims.auto.filed"), exchange=names["events"])
    await bus.publish(BusMessage(b"3", "loans.x.submitted"), exchange=names["events"])
    deliveries = bus.consume(sub, prefetch=5)
    got = [await asyncio.wait_for(anext(deliveries), 10) for _ in range(2)]
    assert [d.message.body for d in got] == [b"2", b"3"]
    await deliveries.aclose()  # type: ignore[attr-defined]
    await bus.close()


async def test_unreachable_server_is_transient_and_hides_the_password() -> None:
    bus = NatsBus("nats://user:s3cret@127.0.0.1:1", NatsSettings(publish_timeout_s=3))
    with pytest.raises(TransientError) as caught:
        await bus.start()
    assert "s3cret" not in str(caught.value)
