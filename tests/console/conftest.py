"""Fixtures of the console's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.harness import Harness, build_harness


@pytest.fixture
def harness(data_dir: Path) -> Iterator[Harness]:
    h = build_harness(data_dir)
    yield h
    h.proxy.db.dispose()
