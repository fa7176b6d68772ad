"""The HTTP adapters' shared pieces: Retry-After, upstream error messages, redaction."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from outrigger.llm.http import redact, retry_after_s, upstream_message

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": " 1.5 "}, 1.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # OpenAI's finer header first
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "tomorrow"}, None),
        ({}, None),
    ],
)
def test_retry_after_in_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_s(headers, now=NOW) == expected


def test_retry_after_as_an_http_date() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert retry_after_s({"retry-after": when}, now=NOW) == pytest.approx(30)
    past = format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True)
    assert retry_after_s({"retry-after": past}, now=NOW) == 0.0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"error": {"message": "slow down", "type": "rate_limit_error"}}', "slow down"),
        (b'{"type": "error", "error": {"type": "api_error", "message": "boom"}}', "boom"),
        (b'{"error": "model \\"x\\" not found"}', 'model "x" not found'),
        (b'{"message": "Bad"}', "Bad"),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
    ],
)
def test_the_upstreams_own_message_is_found(payload: bytes, message: str) -> None:
    assert upstream_message(payload) == message


def test_secrets_are_redacted_wherever_they_appear() -> None:
    text = "key sk-123 rejected (sk-123)"
    assert redact(text, ["sk-123", ""]) == "key [redacted] rejected ([redacted])"
