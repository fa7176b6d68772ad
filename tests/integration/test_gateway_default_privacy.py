"""The default settings (no ``privacy`` section): through the real gateway and the real
``openai`` client, a person's name, a date of birth and a medical record number never reach
the upstream, and the answer comes back re-hydrated, plain and streamed (issue #14 item 3).
The helpers and the structured-identifier cases live in ``test_gateway_guard.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_server import GatewayServer
from tests.integration.test_gateway_guard import sent_text, stored_bytes, wait_for_audit
from tests.integration.test_gateway_llm import ask, client, new_key, start_gateway
from tests.upstream import UpstreamThread

ORIGINALS = {
    "PERSON": "Ananya Krishnamurthy",
    "DATE_OF_BIRTH": "14/07/1988",
    "MEDICAL_RECORD_NUMBER": "00719342",
}
MESSAGE = (
    f"Please summarise the chart of {ORIGINALS['PERSON']}, born on "
    f"{ORIGINALS['DATE_OF_BIRTH']}, MRN {ORIGINALS['MEDICAL_RECORD_NUMBER']}: she reports "
    "dizziness since Monday."
)


@pytest.fixture
def gateway(data_dir: Path, upstream: UpstreamThread) -> Iterator[GatewayServer]:
    server = start_gateway(data_dir, {"primary": upstream})  # default privacy settings
    yield server
    server.stop()


def assert_nothing_leaked(text: str) -> None:
    for kind, original in ORIGINALS.items():
        assert original not in text, f"{kind} {original!r} left the gateway"
    assert "Krishnamurthy" not in text and "Ananya" not in text


def test_default_mode_is_standard(gateway: GatewayServer) -> None:
    assert gateway.proxy.settings.privacy.default.mode == "standard"


def test_name_dob_and_mrn_never_reach_the_upstream(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    key = new_key(gateway)
    answer = ask(gateway, key, MESSAGE)
    assert answer.choices[0].message.content == f"echo: {MESSAGE}"
    sent = sent_text(upstream)
    assert_nothing_leaked(sent)
    assert "<PERSON_1>" in sent and "<DOB_1>" in sent and "<MRN_1>" in sent
    wait_for_audit(gateway, 1)
    assert_nothing_leaked(stored_bytes(gateway).decode("latin-1"))


def test_streamed_answer_is_rehydrated_with_default_settings(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    key = new_key(gateway)
    stream = client(gateway, key).chat.completions.create(
        model="chat-default", messages=[{"role": "user", "content": MESSAGE}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == f"echo: {MESSAGE}"
    sent = sent_text(upstream)
    assert_nothing_leaked(sent)
    assert "<PERSON_1>" in sent
