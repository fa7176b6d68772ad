"""Fixtures of the console's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.harness import Harness, build_harness
from tests.upstream import UpstreamThread


@pytest.fixture
def harness(data_dir: Path) -> Iterator[Harness]:
    h = build_harness(data_dir)
    yield h
    h.proxy.db.dispose()


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    """An OpenAI-compatible upstream on 127.0.0.1 (tests/upstream.py), fresh per test."""
    up = UpstreamThread().start()
    yield up
    up.stop()
