"""Model routing: the complexity score, the rules that move a call to another alias, and the
region pin on the deployments that may answer."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from outrigger.config.llm import LlmSettings
from outrigger.llm.types import ChatRequest
from outrigger.proxy.context import CallContext, Unavailable
from outrigger.proxy.routing import ModelNotFound, Router, complexity
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
    text: str, feature: str = "chat", model: str = "chat-default", region: str | None = None
) -> CallContext:
    request = ChatRequest(model, [{"role": "user", "content": text}], {})
    return CallContext(Tenant("acme", "Acme", "enterprise", region), feature, request)


def test_complexity_grows_with_length_reasoning_code_and_questions() -> None:
    simple, hard = complexity(SIMPLE), complexity(COMPLEX)
    assert 0 <= simple < 0.1 < 0.4 < hard <= 1
    assert complexity("Why? " * 2) > complexity("Hi. " * 2)  # a reasoning verb counts
    assert complexity("x" * 2000) > complexity("x" * 200)  # so does length
    assert complexity("see ```code```") > complexity("see code")
    assert complexity("a? b? c? d?") > complexity("a. b. c. d.")
    assert complexity("why " * 10_000 + "?" * 100 + "```" + "def ") == 1.0  # bounded


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
