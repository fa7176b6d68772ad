"""The RabbitMQ bus names its connection, so an operator (and the chaos benchmark) can tell
this process's connection from the others in ``rabbitmqctl list_connections``."""

from __future__ import annotations

import os

from outrigger.bus.rabbitmq.bus import RabbitBus


def test_the_urls_name_wins() -> None:
    bus = RabbitBus("amqp://guest:guest@127.0.0.1:5672/?name=loans-sidecar")
    assert bus.connection_name() == "loans-sidecar"


def test_without_one_the_host_and_pid_name_it() -> None:
    name = RabbitBus("amqp://guest:guest@127.0.0.1:5672/").connection_name()
    assert name.startswith("outrigger ") and name.endswith(f" pid {os.getpid()}")
