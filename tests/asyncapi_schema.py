"""The official AsyncAPI 3.0.0 JSON Schema (vendored in tests/data/asyncapi/), as a validator
that never goes to the network: every ``$ref`` resolves inside the bundled file (its
definitions carry their own ``$id``s, the Draft 07 meta-schema among them), and any other
reference fails instead of being fetched."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7

SCHEMA_FILE = Path(__file__).parent / "data" / "asyncapi" / "3.0.0.json"


def _offline(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)


@cache
def asyncapi_validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    resource = Resource.from_contents(schema, default_specification=DRAFT7)
    registry: Registry[Any] = Registry(retrieve=_offline).with_resource(schema["$id"], resource)
    return Draft7Validator(schema, registry=registry.crawl())


def asyncapi_errors(doc: Any) -> list[str]:
    """Every violation as ``path: message`` (with the causes of ``oneOf``/``anyOf`` misses)."""
    lines = []
    for error in sorted(asyncapi_validator().iter_errors(doc), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        lines.append(f"{where}: {error.message[:200]}")
        for cause in (error.context or [])[:5]:
            lines.append(
                f"    {'/'.join(str(p) for p in cause.absolute_path)}: {cause.message[:200]}"
            )
    return lines
