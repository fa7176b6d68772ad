"""A ``BusMessage`` as an SQS message, and SQS's names for Outrigger's queues.

SQS carries a text body and at most 10 message attributes, so:

* the body travels as text when it is valid UTF-8 made only of the characters SQS accepts,
  else as base64 with ``x-outrigger-sqs-encoding: base64``;
* the routing key, message id and content type travel as ``x-outrigger-sqs-key``,
  ``x-outrigger-sqs-id`` and ``x-outrigger-sqs-type`` attributes; a service of the domain
  that sends straight to Outrigger's queue with its own SDK sets one attribute,
  ``x-outrigger-routing-key`` (the header a replay sets too), and nothing else;
* every header is an attribute of its own while the total stays within 10; past that, the
  first nine stay attributes (ours first, the dead-letter reason among them, so the SQS
  console shows it) and the rest fold into one JSON attribute ``x-outrigger-sqs-headers``.
  Empty values and names SQS refuses always fold.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from outrigger.bus import letters
from outrigger.bus.base import ROUTING_KEY_HEADER, BusMessage

MAX_ATTRIBUTES = 10
ROUTING = "x-outrigger-sqs-key"
MESSAGE_ID = "x-outrigger-sqs-id"
CONTENT_TYPE = "x-outrigger-sqs-type"
ENCODING = "x-outrigger-sqs-encoding"
FOLDED = "x-outrigger-sqs-headers"
META = (ROUTING, MESSAGE_ID, CONTENT_TYPE, ENCODING)
#: Shown first (as attributes of their own) when headers must fold: the reason of a letter.
FIRST = (letters.CODE, letters.REASON, letters.ID, letters.ATTEMPTS, letters.SOURCE)

# The characters SQS accepts in a body or attribute value (anything else is refused).
_TEXT = re.compile("^[\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*$")
_ATTR_NAME = re.compile(r"^(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9_.-]{1,256}$")
_QUEUE_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_DEDUP_ID = re.compile(r"^[!-~]{1,128}$")  # printable ASCII, 128 at most


def queue_name(name: str, *, prefix: str = "", fifo: bool = False) -> str:
    """SQS's name for an Outrigger queue: dots (not allowed by SQS) become dashes; a name
    longer than SQS's 80 characters keeps its start and gains a hash of the whole."""
    base = _QUEUE_CHARS.sub("-", prefix + name)
    room = 80 - (5 if fifo else 0)
    if len(base) > room:
        base = base[: room - 13] + "-" + hashlib.sha256(base.encode()).hexdigest()[:12]
    return base + (".fifo" if fifo else "")


def _text_ok(value: str) -> bool:
    return bool(_TEXT.match(value))


def _attr(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def to_sqs(message: BusMessage) -> tuple[str, dict[str, dict[str, str]]]:
    """The body and message attributes for ``message``."""
    fields: dict[str, str] = {ROUTING: message.routing_key}
    if message.message_id:
        fields[MESSAGE_ID] = message.message_id
    if message.content_type:
        fields[CONTENT_TYPE] = message.content_type
    try:
        body = message.body.decode("utf-8")
        if not _text_ok(body):
            raise ValueError("characters SQS refuses")
    except ValueError:  # UnicodeDecodeError too
        body = base64.b64encode(message.body).decode("ascii")
        fields[ENCODING] = "base64"
    plain: dict[str, str] = {}
    folded: dict[str, str] = {}
    headers = message.headers
    for name in [*(n for n in FIRST if n in headers), *(n for n in headers if n not in FIRST)]:
        value = headers[name]
        if name in META or name == FOLDED:
            continue  # ours, set from the message's own fields
        fits = value and _text_ok(value) and _ATTR_NAME.match(name) and not _reserved(name)
        (plain if fits else folded)[name] = value
    room = MAX_ATTRIBUTES - len(fields)
    if len(plain) > room or folded:
        room -= 1  # one goes to the folded headers
        names = list(plain)
        folded.update({n: plain.pop(n) for n in names[room:]})
    fields.update(plain)
    attributes = {k: _attr(v) for k, v in fields.items()}
    if folded:
        attributes[FOLDED] = _attr(json.dumps(folded, ensure_ascii=True, sort_keys=True))
    return body, attributes


def _reserved(name: str) -> bool:
    return name.lower().startswith(("aws.", "amazon."))


def from_sqs(raw: Mapping[str, Any]) -> BusMessage:
    """The ``BusMessage`` in a received SQS message (``MessageAttributeNames=["All"]``)."""
    attrs = {
        k: str(v.get("StringValue", ""))
        for k, v in (raw.get("MessageAttributes") or {}).items()
        if "StringValue" in v
    }
    headers = {k: v for k, v in attrs.items() if k not in META and k != FOLDED}
    if FOLDED in attrs:
        try:
            headers.update({str(k): str(v) for k, v in json.loads(attrs[FOLDED]).items()})
        except (ValueError, AttributeError):
            headers[FOLDED] = attrs[FOLDED]  # not ours: keep it as it came
    text = str(raw.get("Body", ""))
    body = base64.b64decode(text) if attrs.get(ENCODING) == "base64" else text.encode("utf-8")
    return BusMessage(
        body,
        attrs.get(ROUTING) or headers.get(ROUTING_KEY_HEADER, ""),
        headers,
        attrs.get(MESSAGE_ID) or None,
        attrs.get(CONTENT_TYPE) or None,
    )


def dedup_id(message: BusMessage, extra: str = "") -> str:
    """A FIFO deduplication id: the message id (plus ``extra``, e.g. a replay's letter id),
    hashed when SQS would refuse it as it is. A message without an id gets a fresh one: two
    different messages with equal bodies must not swallow each other."""
    key = (message.message_id or uuid.uuid4().hex) + extra
    return key if _DEDUP_ID.match(key) else hashlib.sha256(key.encode()).hexdigest()


def group_id(message: BusMessage, header: str | None) -> str:
    """A FIFO message group: the configured header's value, else the domain routing key."""
    value = (message.headers.get(header) if header else None) or message.domain_routing_key
    value = value or "default"
    return value if _DEDUP_ID.match(value) else hashlib.sha256(value.encode()).hexdigest()
