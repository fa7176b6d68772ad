"""Events through a real ``outrigger run`` worker on RabbitMQ, with a collector of results.

``EventStage`` owns one run's names on the broker (``chaos.<tag>.*``, deleted afterwards),
the worker's environment, this process's own bus connection (to queue events and collect
results) and the worker child process. The worker's AMQP connection is named
``outrigger-chaos-<tag>`` (the URL's ``name``) so that a fault can find it and no other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from outrigger.bus.base import BusMessage, Subscription
from outrigger.bus.rabbitmq.bus import RabbitBus
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.engine.results import result_id
from tests.chaos.model import Results, Row, row_from
from tests.helpers import until_transient_passes
from tests.integration.worker_process import WorkerProcess
from tests.rabbit_cleanup import delete_rabbit_objects

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
PIPELINE = "credit-risk-assessment"
RESULT_KEY = "ai.assessment.completed"


def make_events(n: int, seed: int) -> tuple[dict[str, str], list[BusMessage]]:
    """``n`` LoanApplicationSubmitted CloudEvents and their expected result ids."""
    service = LoanService(holdout_rows(), random.Random(seed))
    expected, messages = {}, []
    for _ in range(n):
        event_id, message = service.cloudevent()
        expected[result_id(event_id, PIPELINE, 1)] = event_id
        messages.append(message)
    return expected, messages


@dataclass
class EventStage:
    data_dir: Path
    rabbit_url: str = RABBITMQ_URL
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    env_extra: dict[str, str] = field(default_factory=dict)
    bus: RabbitBus | None = None
    worker: WorkerProcess | None = None
    results: Results = field(default_factory=lambda: Results({}))
    publish_retries: int = 0  # publishes the feeder repeated (not confirmed the first time)
    _collector: asyncio.Task[None] | None = None
    _feeder: asyncio.Task[None] | None = None

    @property
    def base(self) -> str:
        return f"chaos.{self.tag}"

    @property
    def exchange(self) -> str:
        return f"{self.base}.events"

    @property
    def queue(self) -> str:
        return f"{self.base}.work"

    @property
    def results_queue(self) -> str:
        return f"{self.base}.results"

    @property
    def connection_name(self) -> str:
        return f"outrigger-chaos-{self.tag}"

    def env(self) -> dict[str, str]:
        sep = "&" if "?" in self.rabbit_url else "?"
        return {
            "OUTRIGGER_DATA_DIR": str(self.data_dir),
            "OUTRIGGER_BUS__KIND": "rabbitmq",
            "OUTRIGGER_BUS__RABBITMQ__URL": f"{self.rabbit_url}{sep}name={self.connection_name}",
            "OUTRIGGER_BUS__RABBITMQ__DECLARE_EXCHANGES": "true",
            "OUTRIGGER_BUS__EXCHANGE": self.exchange,
            "OUTRIGGER_BUS__QUEUE": self.queue,
            "OUTRIGGER_BUS__DEAD_LETTER_QUEUE": f"{self.base}.dlq",
            "OUTRIGGER_TELEMETRY__METRICS_PORT": "0",
            "OUTRIGGER_WORKER__PREFETCH": "64",
            "OUTRIGGER_LOG_LEVEL": "INFO",
            **self.env_extra,
        }

    # -- this process's side ------------------------------------------------------------

    async def open(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.bus = RabbitBus(self.rabbit_url)
        await self.bus.start()
        await self.bus.declare(Subscription(self.results_queue, self.exchange, (RESULT_KEY,)))
        await self.bus.declare(
            Subscription(self.queue, self.exchange, ("loans.application.submitted",))
        )

    async def queue_events(self, n: int, seed: int = 2026, chunk: int = 500) -> None:
        """Publish ``n`` events (confirmed) and expect one result each."""
        assert self.bus is not None
        expected, messages = make_events(n, seed)
        self.results.expected.update(expected)
        for start in range(0, len(messages), chunk):
            part = messages[start : start + chunk]
            await asyncio.gather(*(self.bus.publish(m, exchange=self.exchange) for m in part))

    def feed(self, n: int, per_s: float, seed: int = 2026) -> None:
        """Publish ``n`` events at ``per_s`` in the background, as a core service would:
        each publish is retried until the broker confirms it (a confirm lost with the
        connection may put an event in the queue twice: same id, same result id)."""
        expected, messages = make_events(n, seed)
        self.results.expected.update(expected)
        self._feeder = asyncio.create_task(self._feed(messages, per_s), name="chaos-feeder")

    async def _feed(self, messages: list[BusMessage], per_s: float) -> None:
        began, sent = time.monotonic(), 0
        while sent < len(messages):
            due = min(len(messages), int((time.monotonic() - began) * per_s) + 1)
            await asyncio.gather(*(self._publish(m) for m in messages[sent:due]))
            sent = due
            await asyncio.sleep(0.05)

    async def _publish(self, message: BusMessage) -> None:
        assert self.bus is not None
        while True:
            try:
                await self.bus.publish(message, exchange=self.exchange)
                return
            except Exception:  # the broker is away: the core service tries again
                self.publish_retries += 1
                await asyncio.sleep(0.2)

    def collect(self) -> None:
        self._collector = asyncio.create_task(self._collect(), name="chaos-collector")

    async def _collect(self) -> None:
        """Read every result, whatever happens to this process's connection meanwhile."""
        sub = Subscription(self.results_queue, self.exchange, (RESULT_KEY,))
        while True:
            try:
                assert self.bus is not None
                async for delivery in self.bus.consume(sub, prefetch=500):
                    event = json.loads(delivery.message.body)
                    self.results.add(event["id"], event.get("correlationid", ""))
                    await delivery.ack()
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker went away: consume again once it is back
                await asyncio.sleep(0.5)

    async def wait(
        self, predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.02
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            if self.worker is not None and self.worker.proc is not None and not self.worker.alive():
                raise AssertionError(f"the worker exited:\n{self.worker.output()[-3000:]}")
            await asyncio.sleep(step_s)
        return predicate()

    async def wait_results(self, at_least: int, timeout_s: float) -> bool:
        return await self.wait(lambda: self.results.distinct >= at_least, timeout_s)

    async def wait_complete(self, timeout_s: float) -> bool:
        return await self.wait(self.results.complete, timeout_s)

    async def depth(self) -> int:
        return await self._depth_of(self.queue)

    async def dead_letters(self) -> int:
        return await self._depth_of(f"{self.base}.dlq")

    async def _depth_of(self, queue: str, timeout_s: float = 60) -> int:
        """The queue's depth, read on this process's own connection. A broker fault closes
        that connection too, and aio-pika may still be reconnecting it (every 5 s) when the
        worker has long recovered: wait for it rather than score the observer's outage."""
        bus = self.bus
        assert bus is not None
        return await until_transient_passes(lambda: bus.depth(queue), timeout_s)

    async def row(
        self, fault: str, complete: bool, recoveries: list[float | None], **extra: object
    ) -> Row:
        """Stop the worker (cleanly) and score what came out."""
        depth = await self.depth()
        began = time.monotonic()
        if complete:  # duplicates of work already resulted: let the worker settle them
            deadline = began + 30
            while depth and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                depth = await self.depth()
        extra["settle_s"] = round(time.monotonic() - began, 1)  # waited for those duplicates
        if not complete and self.worker is not None:  # shown by pytest when the test fails
            waiting = await self._depth_of(self.results_queue)  # > 0: our collector is stuck
            print(
                f"incomplete: {self.results.distinct} distinct results, {depth} events and "
                f"{waiting} results ready in their queues; the worker's log ends:"
            )
            print(self.worker.output()[-6000:])
        code = self.stop_worker()
        known = [r for r in recoveries if r is not None]
        recovery = max(known) if known and len(known) == len(recoveries) else None
        return row_from(
            fault,
            self.results,
            recovery,
            int(str(extra.pop("errors", 0))),
            dead_letters=await self.dead_letters(),
            left_in_queue=depth,
            unexpected_ids=self.results.unexpected(),
            worker_exit=code,
            **extra,
        )

    # -- the worker ---------------------------------------------------------------------

    def start_worker(self) -> WorkerProcess:
        self.worker = WorkerProcess(self.env(), self.data_dir / f"worker-{self.tag}.log")
        self.worker.start()
        return self.worker

    def stop_worker(self) -> int | None:
        if self.worker is None or not self.worker.alive():
            return None
        return self.worker.terminate()

    async def close(self) -> None:
        for task in (self._feeder, self._collector):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.worker is not None:
            with contextlib.suppress(Exception):
                self.stop_worker()
            self.worker.cleanup()
        if self.bus is not None:
            with contextlib.suppress(Exception):
                await self.bus.close()
        with contextlib.suppress(Exception):
            queues = [self.queue, self.results_queue, f"{self.base}.dlq"]
            await delete_rabbit_objects(self.rabbit_url, queues, [self.exchange])


@contextlib.asynccontextmanager
async def event_stage(
    data_dir: Path, rabbit_url: str = RABBITMQ_URL, **env: str
) -> AsyncIterator[EventStage]:
    stage = EventStage(data_dir, rabbit_url, env_extra=dict(env))
    try:
        await stage.open()
        yield stage
    finally:
        await stage.close()
