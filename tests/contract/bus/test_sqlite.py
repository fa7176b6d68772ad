"""The bus contract on the embedded SQLite bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.bus.base import BusContract, DeadLetterContract
from tests.contract.bus.kits import BusKit, sqlite_kit

pytestmark = pytest.mark.sqlite


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[BusKit]:
    made = sqlite_kit(tmp_path)
    yield made
    await made.close_all()


class TestSqliteBus(BusContract):
    pass


class TestSqliteDeadLetters(DeadLetterContract):
    pass
