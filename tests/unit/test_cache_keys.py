"""Cache keys: what makes two requests the same (exact) or comparable (fingerprint)."""

from __future__ import annotations

from typing import Any

import pytest

from outrigger.cache import CacheRequest, CacheSettings, FeatureCacheSettings, cache_keys

SYSTEM = {"role": "system", "content": "You are the support assistant of Example Bank."}


def req(text: str = "How do I block my card?", **changes: Any) -> CacheRequest:
    base: dict[str, Any] = {
        "tenant": "acme",
        "feature": "support",
        "model": "chat-default",
        "messages": [SYSTEM, {"role": "user", "content": text}],
        "params": {"temperature": 0.0, "max_tokens": 200},
    }
    base.update(changes)
    return CacheRequest(**base)


def keys(request: CacheRequest) -> Any:
    return cache_keys(request, "embedder-1")


def test_same_request_same_keys_and_param_order_does_not_matter() -> None:
    a = keys(req(params={"temperature": 0.0, "max_tokens": 200}))
    b = keys(req(params={"max_tokens": 200, "temperature": 0.0}))
    assert a == b
    assert len(a.exact) == len(a.fingerprint) == 64
    assert a.text == "How do I block my card?"


def test_neutral_parameters_are_ignored() -> None:
    plain = keys(req())
    extra = {"temperature": 0.0, "max_tokens": 200, "stream": True, "user": "u-1"}
    assert keys(req(params={**extra, "stream_options": {"include_usage": True}})) == plain


def test_answer_changing_parameters_change_both_keys() -> None:
    plain = keys(req())
    for params in (
        {"temperature": 0.7, "max_tokens": 200},
        {"temperature": 0.0, "max_tokens": 50},
        {"temperature": 0.0, "max_tokens": 200, "top_p": 0.5},
        {"temperature": 0.0, "max_tokens": 200, "seed": 7},
        {"temperature": 0.0, "max_tokens": 200, "stop": ["\n"]},
        {"temperature": 0.0, "max_tokens": 200, "response_format": {"type": "json_object"}},
        {
            "temperature": 0.0,
            "max_tokens": 200,
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
        {"temperature": 0.0, "max_tokens": 200, "some_vendor_knob": 1},
    ):
        changed = keys(req(params=params))
        assert changed.exact != plain.exact, params
        assert changed.fingerprint != plain.fingerprint, params


def test_tenant_alias_and_system_prompt_are_in_the_fingerprint() -> None:
    plain = keys(req())
    other_system = {"role": "system", "content": "You are a pirate."}
    for changed in (
        req(tenant="globex"),
        req(model="chat-strong"),
        req(messages=[other_system, {"role": "user", "content": "How do I block my card?"}]),
        req(messages=[{"role": "user", "content": "How do I block my card?"}]),
    ):
        assert keys(changed).fingerprint != plain.fingerprint
        assert keys(changed).exact != plain.exact
    assert cache_keys(req(), "embedder-2").fingerprint != plain.fingerprint
    assert cache_keys(req(), "embedder-2").exact == plain.exact


def test_the_last_user_message_changes_exact_but_not_fingerprint() -> None:
    a, b = keys(req("How do I block my card?")), keys(req("How can I freeze my card?"))
    assert a.exact != b.exact
    assert a.fingerprint == b.fingerprint
    assert keys(req(feature="other")) == a  # the answer does not depend on the feature tag


def test_earlier_turns_are_context() -> None:
    turns = [
        SYSTEM,
        {"role": "user", "content": "I have a credit card and a debit card."},
        {"role": "assistant", "content": "Which one is it about?"},
        {"role": "user", "content": "The debit one."},
    ]
    other = [*turns[:1], {**turns[1], "content": "I have two credit cards."}, *turns[2:]]
    assert keys(req(messages=turns)).fingerprint != keys(req(messages=other)).fingerprint
    assert keys(req(messages=turns)).text == "The debit one."


def test_light_normalisation() -> None:
    assert keys(req("  How do I block my card?\r\n")) == keys(req("How do I block my card?"))
    assert keys(req("How do I  block my card?")).exact != keys(req()).exact
    assert keys(req("how do i block my card?")).exact != keys(req()).exact


def test_only_plain_user_text_is_matched_semantically() -> None:
    parts = [{"type": "text", "text": "What is in"}, {"type": "text", "text": "this form?"}]
    assert keys(req(messages=[SYSTEM, {"role": "user", "content": parts}])).text == (
        "What is in this form?"
    )
    image = [*parts, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]
    assert keys(req(messages=[SYSTEM, {"role": "user", "content": image}])).text is None
    tool_turn = [SYSTEM, {"role": "tool", "tool_call_id": "c1", "content": "42"}]
    assert keys(req(messages=tool_turn)).text is None
    assert keys(req("   ")).text is None


def test_feature_policies_inherit_and_override() -> None:
    settings = CacheSettings(
        threshold=0.7,
        ttl_s=60,
        features={
            "triage": FeatureCacheSettings(enabled=False),
            "faq": FeatureCacheSettings(threshold=0.9, ttl_s=600),
            "forms": FeatureCacheSettings(semantic=False),
        },
    )
    assert settings.policy("other").threshold == 0.7
    assert not settings.policy("triage").enabled
    assert not settings.policy("triage").semantic
    assert (settings.policy("faq").threshold, settings.policy("faq").ttl_s) == (0.9, 600)
    assert settings.policy("forms").enabled and not settings.policy("forms").semantic
    assert not CacheSettings(semantic=False).policy("x").semantic


def user(text: str = "How do I block my card?", **fields: Any) -> dict[str, Any]:
    return {"role": "user", "content": text, **fields}


def test_the_speaker_of_the_last_message_is_in_the_fingerprint() -> None:
    carol, dave = (
        req(messages=[SYSTEM, user(name="carol")]),
        req(messages=[SYSTEM, user(name="dave")]),
    )
    assert keys(carol).fingerprint != keys(dave).fingerprint
    assert keys(carol).fingerprint != keys(req()).fingerprint  # a name vs none
    paraphrase = req(messages=[SYSTEM, user("How can I freeze my card?", name="carol")])
    assert keys(paraphrase).fingerprint == keys(carol).fingerprint  # only the text may vary
    assert keys(paraphrase).text == "How can I freeze my card?"


@pytest.mark.parametrize(
    "last",
    [
        user(name="dave"),
        user(some_vendor_field={"x": 1}),
        user([{"type": "text", "text": "How do I block my card?", "cache_control": {"type": "x"}}]),
    ],
    ids=["name", "extra-field", "text-part-field"],
)
def test_every_field_of_the_last_message_but_its_text_is_in_the_fingerprint(
    last: dict[str, Any],
) -> None:
    changed = keys(req(messages=[SYSTEM, last]))
    assert changed.text == "How do I block my card?"
    assert changed.fingerprint != keys(req()).fingerprint
    assert changed.exact != keys(req()).exact


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "developer", "content": SYSTEM["content"]}, user()],  # the role of a turn
        [SYSTEM, {"role": "assistant", "content": None,
                  "tool_calls": [{"id": "c1", "type": "function",
                                  "function": {"name": "balance", "arguments": "{}"}}]},
         {"role": "tool", "tool_call_id": "c1", "content": "42"}, user()],
        [SYSTEM, {"role": "tool", "tool_call_id": "c2", "content": "42"}, user()],
        [SYSTEM, {"role": "user", "content": "earlier", "name": "carol"}, user()],
    ],
    ids=["role", "tool-calls", "tool-call-id", "earlier-name"],
)  # fmt: skip
def test_roles_tool_calls_and_earlier_turns_are_in_the_fingerprint(
    messages: list[dict[str, Any]],
) -> None:
    assert keys(req(messages=messages)).fingerprint != keys(req()).fingerprint


@pytest.mark.parametrize(
    "param",
    [
        {"tool_choice": "required"},
        {"functions": [{"name": "f"}]},
        {"function_call": "auto"},
        {"logit_bias": {"42": 5}},
        {"presence_penalty": 1.0},
        {"frequency_penalty": 1.0},
        {"reasoning_effort": "high"},
        {"parallel_tool_calls": False},
        {"logprobs": True},
    ],
)
def test_every_other_forwarded_parameter_is_in_the_fingerprint(param: dict[str, Any]) -> None:
    changed = keys(req(params={"temperature": 0.0, "max_tokens": 200, **param}))
    assert changed.fingerprint != keys(req()).fingerprint
