import base64
import json

import pytest

from outrigger.bus.base import ROUTING_KEY_HEADER, BusMessage
from outrigger.engine.envelope import PlainRule, parse_event
from outrigger.engine.results import encode_result, result_id
from outrigger.errors import MalformedEvent

RULES = [PlainRule("event_type", "event_id")]


def ce(**extra: object) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": "e-1",
        "source": "urn:s",
        "type": "t.x",
        "data": {"a": 1},
        **extra,
    }


def parse(
    body: bytes,
    headers: dict[str, str] | None = None,
    ctype: str | None = None,
    max_bytes: int = 10_000,
):
    return parse_event(BusMessage(body, "rk", headers or {}, None, ctype), RULES, max_bytes)


def test_structured_cloudevent() -> None:
    event = parse(
        json.dumps(ce(subject="s/1", traceparent="00-abc-def-01", tenant="acme")).encode()
    )
    assert (event.id, event.type, event.source, event.subject, event.mode) == (
        "e-1",
        "t.x",
        "urn:s",
        "s/1",
        "structured",
    )
    assert event.data == {"a": 1}
    assert event.trace == {"traceparent": "00-abc-def-01"}
    assert event.extensions == {"tenant": "acme"}


def test_structured_data_base64() -> None:
    payload = base64.b64encode(json.dumps({"b": 2}).encode()).decode()
    body = ce(data_base64=payload)
    del body["data"]
    assert parse(json.dumps(body).encode()).data == {"b": 2}


@pytest.mark.parametrize("prefix", ["cloudEvents_", "cloudEvents:", "ce_", "ce-"])
def test_binary_mode_headers(prefix: str) -> None:
    headers = {
        f"{prefix}{k}": v
        for k, v in {"specversion": "1.0", "id": "b-1", "source": "urn:s", "type": "t.b"}.items()
    }
    headers["traceparent"] = "00-1-2-01"
    event = parse(b'{"x": 1}', headers, "application/json")
    assert (event.id, event.type, event.mode, event.data) == ("b-1", "t.b", "binary", {"x": 1})
    assert event.trace["traceparent"] == "00-1-2-01"


def test_plain_json_with_id_field() -> None:
    event = parse(b'{"event_type": "LoanSubmitted", "event_id": 42, "amount": 5}')
    assert (event.type, event.id, event.mode) == ("LoanSubmitted", "42", "plain")
    assert event.source == "plain:rk"


def test_plain_json_without_id_is_stable_hash() -> None:
    rules = [PlainRule("kind")]
    body = b'{"kind": "X", "v": 1}'
    one = parse_event(BusMessage(body, "rk"), rules, 1000)
    two = parse_event(BusMessage(body, "rk"), rules, 1000)
    assert one.id == two.id and one.id.startswith("sha256:")


def test_plain_source_uses_domain_routing_key_after_replay() -> None:
    msg = BusMessage(
        b'{"event_type": "T", "event_id": "1"}',
        "outrigger.pipelines",
        {ROUTING_KEY_HEADER: "loans.x"},
    )
    assert parse_event(msg, RULES, 1000).source == "plain:loans.x"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"\xff\xfe", "not_utf8"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'"str"', "not_object"),
        (json.dumps({k: v for k, v in ce().items() if k != "id"}).encode(), "invalid_cloudevent"),
        (json.dumps(ce(specversion="0.3")).encode(), "invalid_cloudevent"),
        (json.dumps(ce(type=5)).encode(), "invalid_cloudevent"),
        (json.dumps(ce(id="  ")).encode(), "invalid_cloudevent"),
        (json.dumps(ce(data_base64="!!")).encode(), "invalid_cloudevent"),
        (b'{"no_type": 1}', "unrecognised_event"),
        (b'{"event_type": 7, "event_id": "1"}', "invalid_plain_event"),
        (b'{"event_type": "T"}', "invalid_plain_event"),
    ],
)
def test_malformed_inputs_have_stable_codes(body: bytes, code: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        parse(body)
    assert info.value.code == code
    assert str(info.value)


def test_oversized_is_rejected_before_decoding() -> None:
    with pytest.raises(MalformedEvent) as info:
        parse(b"x" * 101, max_bytes=100)
    assert info.value.code == "oversized"
    assert "101 bytes" in str(info.value)


def test_invalid_cloudevent_reason_names_the_field() -> None:
    with pytest.raises(MalformedEvent, match="id"):
        parse(json.dumps({k: v for k, v in ce().items() if k != "id"}).encode())


def test_result_id_is_deterministic_and_sensitive() -> None:
    a = result_id("e-1", "p", 1)
    assert a == result_id("e-1", "p", 1)
    assert (
        len({a, result_id("e-2", "p", 1), result_id("e-1", "q", 1), result_id("e-1", "p", 2)}) == 4
    )


@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_result_encoding_round_trips(mode: str) -> None:
    cause = parse(json.dumps(ce(subject="app/1", traceparent="00-t-s-01")).encode())
    msg = encode_result(
        event_id="r-1",
        event_type="t.result",
        source="urn:o",
        routing_key="ai.done",
        data={"score": 0.5},
        cause=cause,
        mode=mode,
    )
    assert msg.headers["traceparent"] == "00-t-s-01"
    back = parse_event(msg, [], 10_000)
    assert (back.id, back.type, back.subject, back.data) == (
        "r-1",
        "t.result",
        "app/1",
        {"score": 0.5},
    )
    assert back.extensions["correlationid"] == "e-1"
