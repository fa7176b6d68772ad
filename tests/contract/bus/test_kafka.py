"""The bus contract on Kafka (the tansu test broker, tests/kafka_broker.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.bus.base import BusContract, DeadLetterContract
from tests.contract.bus.kits import BusKit, kafka_kit

pytestmark = pytest.mark.kafka


@pytest.fixture
async def kit(kafka_bootstrap: str) -> AsyncIterator[BusKit]:
    made = kafka_kit(kafka_bootstrap)
    yield made
    await made.close_all()


class TestKafkaBus(BusContract):
    pass


class TestKafkaDeadLetters(DeadLetterContract):
    pass
