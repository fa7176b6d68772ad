"""Presidio never reaches the network: built and run with every connection refused.

The blocker refuses ``socket.connect``/``connect_ex`` and name resolution, and records each
attempt. A control test shows it catches tldextract's default extractor, which fetches the
Public Suffix List on first use, so the offline test can fail.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outrigger.privacy import PresidioDetector, Pseudonymizer
from tests.integration.test_presidio import require_privacy_extra


class NetworkBlocked(OSError):
    pass


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    require_privacy_extra()
    import tldextract.tldextract

    # As on a fresh machine: tldextract's module-level extractor has no suffix-list cache yet
    # (this one would otherwise be warm from any earlier run on the machine).
    fresh = tldextract.tldextract.TLDExtract(cache_dir=str(tmp_path / "tldextract-cache"))
    monkeypatch.setattr(tldextract.tldextract, "TLD_EXTRACTOR", fresh)
    seen: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        seen.append(repr(args[1:] if args and isinstance(args[0], socket.socket) else args))
        raise NetworkBlocked("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield seen


def test_the_blocker_catches_tldextracts_default_download(attempts: list[str]) -> None:
    import tldextract

    # What Presidio's own EmailRecognizer calls: fetch the list, fall back to the snapshot.
    assert tldextract.extract("priya@example.co.in").suffix == "co.in"
    assert attempts, "the default extractor tried the network, and the blocker saw it"


def test_build_and_analyse_with_the_network_blocked(attempts: list[str]) -> None:
    detector = PresidioDetector.build()
    session = Pseudonymizer(detector)
    text = "Write to priya.sharma@example.co.in or asha@rao.in; Priya Sharma, PAN ABCPE1234F."
    redacted = session.pseudonymize(text)
    assert redacted == "Write to <EMAIL_1> or <EMAIL_2>; <PERSON_1>, PAN <PAN_1>."
    assert attempts == []
