"""Model routing through the real gateway and the real ``openai`` client: a complex or long
prompt goes to the strong alias's deployment, a simple one stays on the cheap one, and the
ledger bills each call to the alias that answered it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from outrigger.proxy.routing import complexity
from outrigger.storage.schema import llm_calls
from tests.gateway_server import GatewayServer, wait_for_rows
from tests.integration.test_gateway_llm import client, new_key, start_gateway
from tests.upstream import UpstreamThread

COMPLEX = (
    "Explain step by step why our nightly reconciliation fails, compare the two fixes and "
    "justify which one we should plan for? What are the trade-offs?"
)


@pytest.fixture
def upstreams() -> Iterator[dict[str, UpstreamThread]]:
    ups = {"cheap": UpstreamThread().start(), "strong": UpstreamThread().start()}
    yield ups
    for up in ups.values():
        up.stop()


@pytest.fixture
def gateway(data_dir: Path, upstreams: dict[str, UpstreamThread]) -> Iterator[GatewayServer]:
    llm = {
        "aliases": {"chat-default": ["cheap"], "strong": ["strong"]},
        "routes": [
            {"use": "strong", "min_complexity": 0.3},
            {"use": "strong", "feature": "drafting", "min_prompt_tokens": 200},
        ],
    }
    server = start_gateway(data_dir, upstreams, llm=llm)
    yield server
    server.stop()


def ask(gw: GatewayServer, key: str, text: str, feature: str = "chat") -> str:
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model="chat-default",
        messages=[{"role": "user", "content": text}],
        extra_headers={"X-Outrigger-Feature": feature},
    )
    assert raw.parse().choices[0].message.content == f"echo: {text}"
    return raw.headers["x-outrigger-deployment"]


def billed_aliases(gw: GatewayServer, count: int) -> list[str]:
    def read() -> list[str]:
        with gw.proxy.db.engine.connect() as conn:
            query = sa.select(llm_calls.c.alias).order_by(llm_calls.c.ts)
            return [r.alias for r in conn.execute(query)]

    return wait_for_rows(read, count, "ledger rows")


def test_complex_prompts_go_to_the_strong_model_and_simple_ones_stay_cheap(
    gateway: GatewayServer, upstreams: dict[str, UpstreamThread]
) -> None:
    assert complexity(COMPLEX) >= 0.3 > complexity("What are your opening hours?")
    key = new_key(gateway)
    assert ask(gateway, key, "What are your opening hours?") == "cheap"
    assert ask(gateway, key, COMPLEX) == "strong"
    long_plain = "Please forward this note to the branch. " * 25  # ~250 tokens, not complex
    assert ask(gateway, key, long_plain) == "cheap"  # the length rule is for drafting only
    assert ask(gateway, key, long_plain, feature="drafting") == "strong"
    assert upstreams["cheap"].behaviour.requests == 2
    assert upstreams["strong"].behaviour.requests == 2
    sent = upstreams["strong"].behaviour.bodies[0]
    assert sent["model"] == "strong-model"  # the deployment's model name, not the alias
    assert billed_aliases(gateway, 4) == ["chat-default", "strong", "chat-default", "strong"]
