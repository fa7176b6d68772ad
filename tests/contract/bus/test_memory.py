"""The bus contract on the in-memory bus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.bus.base import BusContract, DeadLetterContract
from tests.contract.bus.kits import BusKit, memory_kit

pytestmark = pytest.mark.memory


@pytest.fixture
async def kit() -> AsyncIterator[BusKit]:
    made = memory_kit()
    yield made
    await made.close_all()


class TestMemoryBus(BusContract):
    pass


class TestMemoryDeadLetters(DeadLetterContract):
    pass
