"""The response cache in the gateway, with the real local embedder (all-MiniLM int8) and
the embedded vector store: exact and semantic hits, never across tenants, never across
different people's identifiers; bypass, SSE from cache, purge, ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from outrigger.storage.schema import llm_calls
from tests.gateway_server import GatewayServer
from tests.integration.test_gateway_llm import client, new_key, start_gateway
from tests.upstream import UpstreamThread

pytest.importorskip("tokenizers", reason="extra 'embeddings' (local embedder) not installed")

QUESTION = "What documents do I need to file a car insurance claim?"
PARAPHRASE = "Which documents are needed to file a claim for car insurance?"


@pytest.fixture
def gateway(data_dir: Path, upstream: UpstreamThread) -> Iterator[GatewayServer]:
    cache = {
        "enabled": True,
        "features": {
            "nocache": {"enabled": False},
            "faq": {"scope": "tenant", "threshold": 0.8},
            "account": {"scope": "user", "semantic": False},
        },
    }
    server = start_gateway(data_dir, {"primary": upstream}, cache=cache)
    yield server
    server.stop()


def chat(gw: GatewayServer, key: str, text: str, **kw: object) -> tuple[str, str]:
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model="chat-default", messages=[{"role": "user", "content": text}], **kw
    )
    return raw.parse().choices[0].message.content, raw.headers["x-outrigger-cache"]


def test_exact_and_semantic_hits_do_not_reach_the_upstream(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    key = new_key(gateway)
    assert chat(gateway, key, QUESTION) == (f"echo: {QUESTION}", "miss")
    assert chat(gateway, key, QUESTION) == (f"echo: {QUESTION}", "hit")
    assert chat(gateway, key, PARAPHRASE) == (f"echo: {QUESTION}", "hit")
    assert upstream.behaviour.requests == 1
    # A hard negative: same words, the other direction. Never served from the cache.
    transfer = "Transfer 500 dollars from savings to checking"
    chat(gateway, key, transfer)
    answer, status = chat(gateway, key, "Transfer 500 dollars from checking to savings")
    assert (answer, status) == ("echo: Transfer 500 dollars from checking to savings", "miss")


def test_a_tenant_never_gets_another_tenants_cached_answer(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    a, b = new_key(gateway, "bank-a"), new_key(gateway, "bank-b")
    assert chat(gateway, a, QUESTION)[1] == "miss"
    assert chat(gateway, b, QUESTION)[1] == "miss"
    assert chat(gateway, b, PARAPHRASE)[1] == "hit"
    assert upstream.behaviour.requests == 2


def test_answers_about_different_people_are_never_mixed(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    key = new_key(gateway)
    first = "Why was the card of jane.doe@example.com declined?"
    other = "Why was the card of john.roe@example.com declined?"
    assert chat(gateway, key, first) == (f"echo: {first}", "miss")
    assert chat(gateway, key, other) == (f"echo: {other}", "miss")
    assert chat(gateway, key, first) == (f"echo: {first}", "hit")
    assert upstream.behaviour.requests == 2


def test_bypass_header_and_disabled_feature(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    key = new_key(gateway)
    chat(gateway, key, QUESTION)
    bypass = {"X-Outrigger-Cache": "bypass"}
    assert chat(gateway, key, QUESTION, extra_headers=bypass)[1] == "bypass"
    off = {"X-Outrigger-Feature": "nocache"}
    assert chat(gateway, key, QUESTION, extra_headers=off)[1] == "bypass"
    assert chat(gateway, key, QUESTION, extra_headers=off)[1] == "bypass"
    assert upstream.behaviour.requests == 4


def test_streamed_requests_fill_and_are_served_from_the_cache(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    key = new_key(gateway)
    for expected in ("miss", "hit"):
        raw = client(gateway, key).chat.completions.with_raw_response.create(
            model="chat-default",
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
        )
        assert raw.headers["x-outrigger-cache"] == expected
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == f"echo: {QUESTION}"
        assert chunks[-1].usage is not None
    assert upstream.behaviour.requests == 1
    assert chat(gateway, key, QUESTION)[1] == "hit"  # the streamed answer serves plain too


def test_purge_is_tenant_scoped_and_hits_cost_nothing(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    a, b = new_key(gateway, "bank-a"), new_key(gateway, "bank-b")
    for key in (a, a, b):
        chat(gateway, key, QUESTION)
    purge = httpx.delete(f"{gateway.url}/v1/cache", headers={"Authorization": f"Bearer {a}"})
    assert purge.status_code == 200
    assert purge.json()["deleted"] == 1
    assert chat(gateway, a, QUESTION)[1] == "miss"
    assert chat(gateway, b, QUESTION)[1] == "hit"
    assert httpx.delete(f"{gateway.url}/v1/cache").status_code == 401
    usage = httpx.get(f"{gateway.url}/v1/usage", headers={"Authorization": f"Bearer {a}"})
    assert usage.json()["total"]["calls"] == 3  # (the gateway flushes its ledger first)
    query = sa.select(llm_calls.c.cache, llm_calls.c.cost_usd).where(
        llm_calls.c.tenant_id == "bank-a"
    )
    with gateway.proxy.db.engine.connect() as conn:
        rows = sorted(conn.execute(query).all())
    words, answer_words = len(QUESTION.split()), len(QUESTION.split()) + 1
    miss_cost = (words * 1.0 + answer_words * 2.0) / 1e6  # the test price table
    assert rows == [
        ("hit", 0.0),
        ("miss", pytest.approx(miss_cost)),
        ("miss", pytest.approx(miss_cost)),
    ]


def ask_as(gw: GatewayServer, key: str, text: str, name: str, **kw: object) -> str:
    """The cache status of a question asked by ``name`` (the last user message's name)."""
    system = kw.pop("system", "You help the customers of Example Bank.")
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model="chat-default",
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": text, "name": name},
        ],
        **kw,
    )
    raw.parse()
    return str(raw.headers["x-outrigger-cache"])


def test_one_users_answer_is_never_served_to_another_user_of_the_tenant(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    key = new_key(gateway)
    assert ask_as(gateway, key, QUESTION, "carol") == "miss"
    assert ask_as(gateway, key, QUESTION, "dave") == "miss"  # the same text, another speaker
    assert ask_as(gateway, key, PARAPHRASE, "dave") == "hit"  # dave's own, paraphrased
    assert ask_as(gateway, key, PARAPHRASE, "carol") == "hit"  # and carol's
    assert upstream.behaviour.requests == 2
    sent = [m.get("name") for b in upstream.behaviour.bodies for m in b["messages"][-1:]]
    assert sent == ["carol", "dave"]


def test_a_paraphrase_under_other_instructions_tools_or_format_is_a_miss(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    key = new_key(gateway)
    assert ask_as(gateway, key, QUESTION, "carol") == "miss"
    tool = {"type": "function", "function": {"name": "open_claim", "parameters": {}}}
    for changed in (
        {"system": "You are a pirate. Answer in pirate speak."},
        {"tools": [tool]},
        {"response_format": {"type": "json_object"}},
        {"temperature": 1.5},
        {"seed": 7},
    ):
        assert ask_as(gateway, key, PARAPHRASE, "carol", **changed) == "miss", changed
    assert upstream.behaviour.requests == 6
    assert ask_as(gateway, key, PARAPHRASE, "carol") == "hit"  # nothing else changed
    assert upstream.behaviour.requests == 6


def answer_as(
    gw: GatewayServer, key: str, text: str, feature: str = "chat", **kw: object
) -> httpx.Response:
    return httpx.post(
        f"{gw.url}/v1/chat/completions",
        json={"model": "chat-default", "messages": [{"role": "user", "content": text}], **kw},
        headers={"Authorization": f"Bearer {key}", "X-Outrigger-Feature": feature},
        timeout=30,
    )


def test_personal_answers_stay_with_their_user_unless_the_feature_shares_them(
    gateway: GatewayServer, upstream: UpstreamThread
) -> None:
    agent_1, agent_2 = new_key(gateway), new_key(gateway)
    personal = "Why was the card of jane.doe@example.com declined?"
    first = answer_as(gateway, agent_1, personal)
    assert first.headers["x-outrigger-cache"] == "miss"
    assert first.headers["x-outrigger-cache-policy"] == "semantic;floor=0.7;scope=auto"
    # The same question about the same customer from another key: not served (auto scope:
    # it carried personal data), but the same key gets its own answer back.
    assert answer_as(gateway, agent_2, personal).headers["x-outrigger-cache"] == "miss"
    assert answer_as(gateway, agent_1, personal).headers["x-outrigger-cache"] == "hit"
    # A question without personal data is shared across the tenant's keys.
    answer_as(gateway, agent_1, QUESTION)
    assert answer_as(gateway, agent_2, QUESTION).headers["x-outrigger-cache"] == "hit"
    # A feature that says so shares personal answers within the tenant ...
    answer_as(gateway, agent_1, personal, "faq")
    shared = answer_as(gateway, agent_2, personal, "faq")
    assert shared.headers["x-outrigger-cache"] == "hit"
    assert shared.headers["x-outrigger-cache-policy"] == "semantic;floor=0.8;scope=tenant"
    # ... and one scoped to the user keeps even plain answers per user (the request's
    # ``user`` field, else the key), exact matches only.
    answer_as(gateway, agent_1, QUESTION, "account", user="u-1")
    own = answer_as(gateway, agent_1, QUESTION, "account", user="u-1")
    assert own.headers["x-outrigger-cache"] == "hit"
    assert own.headers["x-outrigger-cache-policy"] == "exact;scope=user"
    other = answer_as(gateway, agent_1, QUESTION, "account", user="u-2")
    assert other.headers["x-outrigger-cache"] == "miss"
    assert answer_as(gateway, agent_2, QUESTION, "account").headers["x-outrigger-cache"] == "miss"
    # Another key naming the same user is another application's user: never served.
    same_name = answer_as(gateway, agent_2, QUESTION, "account", user="u-1")
    assert same_name.headers["x-outrigger-cache"] == "miss"
    assert upstream.behaviour.requests == 8


def test_the_cache_policy_of_each_feature_is_published(gateway: GatewayServer) -> None:
    key = new_key(gateway)
    got = httpx.get(
        f"{gateway.url}/v1/cache/policy", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert got.status_code == 200
    body = got.json()
    assert body["default"] == {"mode": "semantic", "floor": 0.7, "ttl_s": 86400.0, "scope": "auto"}
    assert body["features"]["nocache"]["mode"] == "off"
    assert body["features"]["account"] == {
        "mode": "exact", "floor": None, "ttl_s": 86400.0, "scope": "user"
    }  # fmt: skip
    assert httpx.get(f"{gateway.url}/v1/cache/policy", timeout=30).status_code == 401
