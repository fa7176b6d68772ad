"""Model routing: the complexity score, the rules that move a call to another alias, and the
region pin on the deployments that may answer."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from outrigger.config.llm import LlmSettings
from outrigger.llm.types import ChatRequest
from outrigger.proxy.context import CallContext, Unavailable
from outrigger.proxy.routing import _NUMBER, ModelNotFound, Router, complexity
from outrigger.storage.tenants import Tenant

SIMPLE = "What are your opening hours?"
COMPLEX = (
    "Explain step by step why the reconciliation job fails, compare the two designs, "
    "evaluate their trade-offs and justify which one we should plan for? Why not the other? "
    "```python\ndef reconcile(a, b):\n    return a - b\n```"
)


def settings(routes: list[dict[str, Any]]) -> LlmSettings:
    regions = {"cheap-us": "us", "strong-us": "us", "strong-in": "in"}
    return LlmSettings.model_validate(
        {
            "providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "deployments": {
                n: {"provider": "p", "model": n, "region": r} for n, r in regions.items()
            },
            "aliases": {
                "chat-default": ["cheap-us"],
                "strong": ["strong-us", "strong-in"],
                "claims": ["cheap-us"],
            },
            "routes": routes,
        }
    )


def call(
    text: str,
    feature: str = "chat",
    model: str = "chat-default",
    region: str | None = None,
    system: str | None = None,
) -> CallContext:
    messages = [{"role": "user", "content": text}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    request = ChatRequest(model, messages, {})
    return CallContext(Tenant("acme", "Acme", "enterprise", region), feature, request)


def test_complexity_grows_with_length_reasoning_code_and_questions() -> None:
    simple, hard = complexity(SIMPLE), complexity(COMPLEX)
    assert 0 <= simple < 0.1 < 0.4 < hard <= 1
    assert complexity("Why? " * 2) > complexity("Hi. " * 2)  # a reasoning verb counts
    assert complexity("x" * 2000) > complexity("x" * 200)  # so does length
    assert complexity("see ```code```") > complexity("see code")
    assert complexity("a? b? c? d?") > complexity("a. b. c. d.")
    assert complexity("8.6% on 24,000 for 3 years, 10% extra") > complexity("a loan, extra")
    assert complexity("why 1 " * 10_000 + "?" * 100 + "```" + "def ") == 1.0  # bounded


def test_multi_step_arithmetic_without_reasoning_verbs_scores_above_a_faq() -> None:
    arithmetic = (
        "My home loan of 30,000 has 5 years left at 8.6 percent. If I pay 10 percent extra "
        "each year, how much sooner do I finish and how much interest do I save?"
    )
    faq = "I sent 4,290 abroad on 27 July. How long does an international wire take?"
    assert complexity(arithmetic) > complexity(faq) + 0.05
    # Identifiers and dates are not numbers to compute with.
    tracking = "Where is my order 4471-2290? I ordered it on 2024-05-01, ref TXN48779635."
    letters = tracking.translate(str.maketrans("0123456789", "abcdefghij"))
    assert complexity(tracking) == complexity(letters)  # as if the digits were letters
    assert complexity("user 5f3a9c2e-81b4-4c1e-9d2a-7f00aa11bb22") < 0.01
    # Nor pieces of one: an identifier never counts as the number inside it.
    for text in ("24,000/year", "v1.2.3", "192.168.0.1/24", "order 4,471-2290", "3x"):
        assert _NUMBER.findall(text) == [], text
    assert _NUMBER.findall("914 at 8.6% | -1,458 | 114,146 | $1,200.50") == [
        "914", "8.6", "1,458", "114,146", "1,200.50"
    ]  # fmt: skip


def test_complexity_scores_the_conversation_but_prompt_size_counts_the_instructions() -> None:
    """A feature's system prompt is the same on every call: it must not make every call of
    the feature look complex, but the model still has to read it."""
    instructions = "Explain, analyse, compare and justify every answer step by step. " * 40
    router = Router(settings([{"use": "strong", "min_complexity": 0.4}]))
    assert router.alias_for(call(SIMPLE, system=instructions)) == "chat-default"
    assert router.alias_for(call(COMPLEX, system=instructions)) == "strong"
    sized = Router(settings([{"use": "strong", "min_prompt_tokens": 500}]))
    assert sized.alias_for(call(SIMPLE, system=instructions)) == "strong"
    assert sized.alias_for(call(SIMPLE)) == "chat-default"
    developer = ChatRequest(
        "m",
        [
            {"role": "developer", "content": "why?"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ],
    )
    assert developer.conversation_text() == "hi\nhello"


def test_rules_move_a_call_to_another_alias_in_the_order_given() -> None:
    router = Router(
        settings(
            [
                {"use": "claims", "feature": "claims"},
                {"use": "strong", "min_complexity": 0.4},
                {"use": "strong", "min_prompt_tokens": 500},
            ]
        )
    )
    assert router.alias_for(call(SIMPLE)) == "chat-default"
    assert router.alias_for(call(COMPLEX)) == "strong"
    assert router.alias_for(call("plain words " * 200)) == "strong"  # 600 tokens, simple
    assert router.alias_for(call("plain words " * 150)) == "chat-default"  # 450 tokens
    # The first matching rule wins: the claims feature stays on its alias even when complex.
    assert router.alias_for(call(COMPLEX, feature="claims")) == "claims"
    # Rules name the alias they apply to: a request for another alias is left alone.
    assert router.alias_for(call(COMPLEX, model="claims")) == "claims"


def test_a_rule_matches_only_when_every_condition_holds() -> None:
    router = Router(settings([{"use": "strong", "feature": "support", "min_complexity": 0.4}]))
    assert router.alias_for(call(COMPLEX, feature="support")) == "strong"
    assert router.alias_for(call(COMPLEX, feature="chat")) == "chat-default"
    assert router.alias_for(call(SIMPLE, feature="support")) == "chat-default"


def test_routing_keeps_a_pinned_tenant_in_its_region() -> None:
    router = Router(settings([{"use": "strong", "min_complexity": 0.4}]))
    anywhere = call(COMPLEX)
    assert router.route(anywhere) == ["strong-us", "strong-in"] and anywhere.alias == "strong"
    assert router.route(call(COMPLEX, region="in")) == ["strong-in"]
    with pytest.raises(Unavailable, match="region 'in'"):
        router.route(call(SIMPLE, region="in"))  # chat-default has no deployment in 'in'


def test_unknown_aliases_are_refused_at_request_and_at_configuration() -> None:
    router = Router(settings([]))
    with pytest.raises(ModelNotFound) as missing:
        router.route(call(SIMPLE, model="gpt-nothing"))
    assert missing.value.status == 404 and "chat-default" in str(missing.value)
    with pytest.raises(ValidationError, match=r"routes\[0\]: no alias named 'huge'"):
        settings([{"use": "huge"}])
