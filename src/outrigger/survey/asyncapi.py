"""An AsyncAPI 2.x or 3.0 document as a survey: the payload schema of every message per
channel (local ``$ref``s resolved), no counts or rates. Fields come from the JSON Schema
(``properties``, ``items``, ``allOf``/``oneOf``/``anyOf``); ``required`` says presence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from outrigger.errors import ConfigError
from outrigger.survey.model import Survey, TypeSurvey
from outrigger.survey.schema import MAX_DEPTH, child_path


def load_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable AsyncAPI document ({exc})") from exc
    version = str(doc.get("asyncapi", "")) if isinstance(doc, dict) else ""
    if not isinstance(doc, dict) or not version.startswith(("2.", "3.")):
        raise ConfigError(f"{path}: not an AsyncAPI 2.x or 3.0 document (asyncapi: {version!r})")
    return dict(doc)


class Resolver:
    """Local ``$ref``s (``#/components/...``); remote ones are reported, not fetched."""

    def __init__(self, doc: dict[str, Any], notes: list[str]) -> None:
        self._doc = doc
        self._notes = notes

    def __call__(self, node: Any, seen: frozenset[str] = frozenset()) -> Any:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                self._notes.append(f"not followed: $ref {ref}")
                return {}
            seen = seen | {ref}
            node = self._pointer(ref)
        return node

    def _pointer(self, ref: str) -> Any:
        node: Any = self._doc
        for raw in ref[2:].split("/"):
            part = raw.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
        return node if node is not None else {}


def messages(doc: dict[str, Any], resolve: Resolver) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(channel address, message key, message)`` for every message of every channel."""
    for channel_id, raw in (doc.get("channels") or {}).items():
        channel = resolve(raw)
        if not isinstance(channel, dict):
            continue
        if str(doc["asyncapi"]).startswith("2."):
            for op in ("publish", "subscribe"):
                operation = resolve(channel.get(op) or {})
                yield from _v2_messages(
                    channel_id, resolve(operation.get("message") or {}), resolve
                )
        else:
            address = channel.get("address") or channel_id
            for key, msg in (channel.get("messages") or {}).items():
                yield str(address), str(key), resolve(msg)


def _v2_messages(
    address: str, message: dict[str, Any], resolve: Resolver
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    if "oneOf" in message:
        for i, option in enumerate(message["oneOf"]):
            yield from _v2_messages(address, resolve(option) | {"_index": i}, resolve)
    elif message:
        yield address, str(message.get("_index", 0)), message


def event_type(message: dict[str, Any], key: str, payload: dict[str, Any]) -> str:
    """A CloudEvents ``type`` constant when the payload is a whole CloudEvent, else the
    message's name, title or key."""
    ce_type = (payload.get("properties") or {}).get("type") or {}
    if isinstance(ce_type, dict) and "const" in ce_type:
        return str(ce_type["const"])
    return str(message.get("name") or message.get("title") or message.get("messageId") or key)


def survey_document(doc: dict[str, Any], origin: str) -> Survey:
    survey = Survey("asyncapi", origin)
    resolve = Resolver(doc, survey.notes)
    for address, key, message in messages(doc, resolve):
        payload = resolve(message.get("payload") or {})
        name = event_type(message, key, payload)
        if "specversion" in (payload.get("properties") or {}):
            payload = resolve(payload["properties"].get("data") or {})  # a whole CloudEvent
        t = survey.of_type(name)
        t.keys[address] += 1
        _fields(t, payload, "", True, resolve, 0)
    return survey


def _fields(
    t: TypeSurvey, schema: Any, path: str, required: bool, resolve: Resolver, depth: int
) -> None:
    schema = resolve(schema)
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return
    for combinator in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(combinator) or []:
            _fields(t, part, path, required and combinator == "allOf", resolve, depth + 1)
    wanted = set(schema.get("required") or [])
    for name, sub in (schema.get("properties") or {}).items():
        sub_path = child_path(path, str(name))
        _declare(t, sub_path, resolve(sub), required and name in wanted)
        _fields(t, sub, sub_path, required and name in wanted, resolve, depth + 1)
    items = schema.get("items")
    if isinstance(items, dict):
        sub_path = f"{path}[*]" if path else "[*]"
        _declare(t, sub_path, resolve(items), False)
        _fields(t, items, sub_path, False, resolve, depth + 1)


def _declare(t: TypeSurvey, path: str, schema: Any, required: bool) -> None:
    if not isinstance(schema, dict):
        return
    f = t.field(path)
    declared = schema.get("type")
    kinds = declared if isinstance(declared, list) else [declared] if declared else []
    if not kinds and "properties" in schema:
        kinds = ["object"]
    for kind in kinds:
        f.types[str(kind)] += 1
    f.required = bool(f.required) or required
    f.enum = f.enum or "enum" in schema or "const" in schema
    f.format = f.format or schema.get("format")
    if isinstance(schema.get("maxLength"), int):
        f.max_length = schema["maxLength"]
