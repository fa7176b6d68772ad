"""The bus contract on the machine's RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.bus.base import BusContract, DeadLetterContract
from tests.contract.bus.kits import BusKit, rabbitmq_kit

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
async def kit(rabbitmq_url: str) -> AsyncIterator[BusKit]:
    made = rabbitmq_kit(rabbitmq_url)
    yield made
    await made.close_all()


class TestRabbitBus(BusContract):
    pass


class TestRabbitDeadLetters(DeadLetterContract):
    pass
