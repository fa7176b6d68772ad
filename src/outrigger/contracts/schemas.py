"""The pipelines' JSON Schemas as AsyncAPI payload schemas.

Outrigger checks ``input_schema`` and the publish step's ``schema`` with JSON Schema 2020-12;
AsyncAPI 3.0's own Schema Object is a superset of Draft 07. Most schemas mean the same in
both, and those are embedded as they are (every AsyncAPI tool reads them). A schema that uses
a keyword whose meaning differs (``$defs``, ``prefixItems``, ``unevaluatedProperties``, an
``items`` array, ``$ref`` beside other keywords, ...) is handed over as a Multi Format Schema
Object in the 2020-12 dialect instead, so no tool reads it with the wrong rules.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

DRAFT_2020_12 = "application/schema+json;version=draft-2020-12"

#: Keywords that do not exist in Draft 07, or mean something else there.
_NEWER = frozenset(
    {
        "$defs",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$vocabulary",
        "$schema",
        "$id",
        "$ref",  # Draft 07 ignores a $ref's siblings, and pointers would be the document's
        "prefixItems",
        "dependentRequired",
        "dependentSchemas",
        "unevaluatedProperties",
        "unevaluatedItems",
        "minContains",
        "maxContains",
        "contentSchema",
    }
)
_ONE = ("additionalProperties", "items", "not", "contains", "propertyNames", "if", "then")
_ONE_MORE = ("else", "additionalItems", "unevaluatedItems", "unevaluatedProperties")
_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def _subschemas(schema: dict[str, Any]) -> Iterator[Any]:
    for key in (*_ONE, *_ONE_MORE):
        if key in schema:
            yield schema[key]
    for key in _MAPS:
        value = schema.get(key)
        if isinstance(value, dict):
            yield from value.values()
    for key in _LISTS:
        value = schema.get(key)
        if isinstance(value, list):
            yield from value


def draft07_compatible(schema: Any) -> bool:
    """True when ``schema`` validates the same under Draft 07 as under 2020-12."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    if _NEWER & schema.keys() or isinstance(schema.get("items"), list):
        return False
    return all(draft07_compatible(sub) for sub in _subschemas(schema))


def nested(schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    """``schema`` moved to ``pointer`` inside a larger schema: its local ``$ref``s follow it
    (``#/$defs/x`` -> ``<pointer>/$defs/x``), and a ``$schema`` (root only) is dropped."""

    def move(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: move(v) for k, v in node.items()}
            ref = node.get("$ref")
            if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
                out["$ref"] = pointer + ref[1:]
            return out
        if isinstance(node, list):
            return [move(v) for v in node]
        return node

    moved: dict[str, Any] = move(copy.deepcopy(schema))
    moved.pop("$schema", None)
    return moved


def payload(schema: dict[str, Any], *, compatible: bool) -> dict[str, Any]:
    """A message payload: the schema itself, or the 2020-12 Multi Format Schema Object."""
    return schema if compatible else {"schemaFormat": DRAFT_2020_12, "schema": schema}
