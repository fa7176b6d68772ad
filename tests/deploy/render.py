"""Rendering the Helm chart with the real Helm engine (helm-python-sdk) into plain objects."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.tools import REPO

CHART = REPO / "deploy" / "helm" / "outrigger"
COMPLIANCE_VALUES = CHART / "values-compliance.yaml"
RELEASE = "ai"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def deep_merge(
    base: Mapping[str, Any], override: Mapping[str, Any], *, drop_nulls: bool = False
) -> dict[str, Any]:
    """Helm's rule for stacked values: maps merge key by key, anything else replaces, and a
    null removes the key once merged onto the chart's defaults (``drop_nulls``); between user
    files a null is kept so that it still removes the default."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None and drop_nulls:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value, drop_nulls=drop_nulls)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_values(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def user_values(*files: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What ``helm -f a.yaml -f b.yaml --set ...`` hands the engine (nulls kept)."""
    values: dict[str, Any] = {}
    for path in files:
        values = deep_merge(values, read_values(path))
    return deep_merge(values, overrides or {})


def effective_values(supplied: Mapping[str, Any]) -> dict[str, Any]:
    """The values the templates see: the chart's defaults with the supplied ones on top."""
    return deep_merge(read_values(CHART / "values.yaml"), supplied, drop_nulls=True)


@dataclass
class Rendered:
    """The objects of one render, and where they came from."""

    namespace: str
    values: dict[str, Any]
    objects: list[dict[str, Any]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for obj in self.of_kind(kind):
            if obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"no {kind} {name} among {[o['metadata']['name'] for o in self.objects]}")

    def component(self, kind: str, component: str) -> dict[str, Any]:
        return self.get(kind, f"{RELEASE}-outrigger-{component}")


def parse_manifests(manifests: Mapping[str, str]) -> list[dict[str, Any]]:
    objects = []
    for name, text in sorted(manifests.items()):
        if not name.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def render(helm: Any, supplied: dict[str, Any], namespace: str = "outrigger") -> Rendered:
    """Render with ``supplied`` user values; ``Rendered.values`` are the effective ones."""
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(supplied, name=RELEASE, namespace=namespace, is_install=True)
    return Rendered(namespace, effective_values(supplied), parse_manifests(manifests))


def containers(deployment: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]
