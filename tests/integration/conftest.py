"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.upstream import UpstreamThread


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    """An OpenAI-compatible upstream on 127.0.0.1 (tests/upstream.py), fresh per test."""
    up = UpstreamThread().start()
    yield up
    up.stop()
