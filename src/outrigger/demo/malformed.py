"""A corpus of malformed events, one per way a producer can get it wrong.

Used by ``outrigger demo`` (a few per run) and by the bad-input tests. Each entry names the
dead-letter reason code the worker must give it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from outrigger.bus.base import BusMessage
from outrigger.demo.loans import EVENT_TYPE, ROUTING_KEY, SOURCE, LoanService

Maker = Callable[[LoanService, int], BusMessage]


def _ce(service: LoanService, n: int, **changes: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": f"bad-{n}",
        "source": SOURCE,
        "type": EVENT_TYPE,
        "data": service.application(),
    }
    for key, value in changes.items():
        if value is _DROP:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def _data(service: LoanService, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = service.application()
    edit(data)
    return data


_DROP = object()


def _msg(
    body: bytes | dict[str, Any] | list[Any],
    headers: dict[str, str] | None = None,
    ctype: str = "application/cloudevents+json",
) -> BusMessage:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return BusMessage(raw, ROUTING_KEY, headers or {}, None, ctype)


def _set(path: list[str], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        if value is _DROP:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value

    return edit


#: reason code -> (description, maker)
CORPUS: dict[str, tuple[str, str, Maker]] = {
    "empty": ("empty", "empty body", lambda s, n: _msg(b"")),
    "not_utf8": (
        "not_utf8",
        "Latin-1 bytes",
        lambda s, n: _msg('{"name": "Jos\xe9"}'.encode("latin-1")),
    ),
    "not_json": (
        "not_json",
        "truncated JSON",
        lambda s, n: _msg(json.dumps(_ce(s, n)).encode()[:-7]),
    ),
    "json_array": ("not_object", "JSON array", lambda s, n: _msg([_ce(s, n)])),
    "json_scalar": ("not_object", "JSON string", lambda s, n: _msg(b'"LoanApplicationSubmitted"')),
    "ce_missing_id": (
        "invalid_cloudevent",
        "CloudEvent without id",
        lambda s, n: _msg(_ce(s, n, id=_DROP)),
    ),
    "ce_bad_specversion": (
        "invalid_cloudevent",
        "specversion 0.3",
        lambda s, n: _msg(_ce(s, n, specversion="0.3")),
    ),
    "ce_type_not_string": (
        "invalid_cloudevent",
        "type is a number",
        lambda s, n: _msg(_ce(s, n, type=42)),
    ),
    "ce_bad_base64": (
        "invalid_cloudevent",
        "data_base64 garbage",
        lambda s, n: _msg(_ce(s, n, data=_DROP, data_base64="%%%not-base64")),
    ),
    "binary_not_json": (
        "not_json",
        "binary-mode body not JSON",
        lambda s, n: _msg(
            b"amount=1200&term=36",
            {
                "cloudEvents_specversion": "1.0",
                "cloudEvents_id": f"bad-{n}",
                "cloudEvents_source": SOURCE,
                "cloudEvents_type": EVENT_TYPE,
            },
            "application/json",
        ),
    ),
    "plain_no_type": (
        "unrecognised_event",
        "plain JSON without a type field",
        lambda s, n: _msg(s.application(), ctype="application/json"),
    ),
    "missing_field": (
        "invalid_payload",
        "application_id missing",
        lambda s, n: _msg(_ce(s, n, data=_data(s, _set(["application_id"], _DROP)))),
    ),
    "data_not_object": (
        "invalid_payload",
        "data is a string",
        lambda s, n: _msg(_ce(s, n, data="n/a")),
    ),
    "missing_mapped_field": (
        "mapping_failed",
        "loan amount missing",
        lambda s, n: _msg(_ce(s, n, data=_data(s, _set(["loan", "amount_cents"], _DROP)))),
    ),
    "mistyped_field": (
        "mapping_failed",
        "loan amount is text",
        lambda s, n: _msg(
            _ce(s, n, data=_data(s, _set(["loan", "amount_cents"], "twelve hundred")))
        ),
    ),
    "unknown_category": (
        "mapping_failed",
        "records flag is 'maybe'",
        lambda s, n: _msg(
            _ce(s, n, data=_data(s, _set(["applicant", "prior_default_records"], "maybe")))
        ),
    ),
    "infinite_number": (
        "mapping_failed",
        "amount 1e999",
        lambda s, n: _msg(
            json.dumps(_ce(s, n))
            .replace('"amount_cents": ', '"amount_cents": 1e999, "x": ', 1)
            .encode()
        ),
    ),
    "deeply_nested": (
        "too_deep",
        "data nested 100,000 arrays deep",
        lambda s, n: _msg(
            json.dumps(_ce(s, n, data=None))
            .replace('"data": null', '"data": ' + "[" * 100_000 + "]" * 100_000)
            .encode()
        ),
    ),
    "huge_integer": (
        "not_json",
        "an integer of 5,000 digits",
        lambda s, n: _msg(
            json.dumps(_ce(s, n))
            .replace('"amount_cents": ', '"amount_cents": ' + "9" * 5000 + ', "x": ', 1)
            .encode()
        ),
    ),
    "oversized": (
        "oversized",
        "2 MiB payload",
        lambda s, n: _msg(_ce(s, n, data=_data(s, _set(["notes"], "x" * (2 * 1024 * 1024))))),
    ),
}
