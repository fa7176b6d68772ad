"""Fixtures of the deployment tests: the Helm engine, rendered profiles, schema validators.

A test whose tool is missing is skipped with the reason and how to get the tool, except under
``CI=true``, where it fails (the same rule as ``require_service`` in tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.render import (
    COMPLIANCE_VALUES,
    DIGEST,
    Rendered,
    deep_merge,
    render,
    user_values,
)
from tests.deploy.tools import ToolMissing, ensure_crd_schemas

NODE_SCRIPT = Path(__file__).resolve().parent / "node" / "validate_crds.mjs"


def require_tool(name: str, problem: str) -> None:
    """Skip (or, under CI=true, fail) because ``name`` is unusable for ``problem``."""
    reason = f"{name} is not available: {problem}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def helm() -> Any:
    try:
        import helm_python
    except ImportError as exc:
        require_tool("Helm (helm-python-sdk)", f"{exc}; pip install -e '.[dev]' installs it")
    return helm_python


@dataclass(frozen=True)
class Profile:
    files: tuple[Path, ...]
    overrides: dict[str, Any]
    namespace: str


PROFILES = {
    "default": Profile((), {}, "outrigger"),
    "compliance": Profile((COMPLIANCE_VALUES,), {"image": {"digest": DIGEST}}, "ai-regulated"),
    "kubernetes": Profile(
        (),
        {"networkPolicy": {"flavor": "kubernetes", "llmProviders": {"cidrs": ["203.0.113.0/24"]}}},
        "outrigger",
    ),
    "keda": Profile((), {"keda": {"enabled": True}}, "outrigger"),
}


def render_profile(helm: Any, name: str, extra: dict[str, Any] | None = None) -> Rendered:
    profile = PROFILES[name]
    supplied = user_values(*profile.files, overrides=profile.overrides)
    return render(helm, deep_merge(supplied, extra or {}), profile.namespace)


@pytest.fixture(scope="session")
def rendered(helm: Any) -> dict[str, Rendered]:
    """Every profile, rendered once per session."""
    return {name: render_profile(helm, name) for name in PROFILES}


@pytest.fixture(params=sorted(PROFILES))
def profile(request: pytest.FixtureRequest, rendered: dict[str, Rendered]) -> Rendered:
    return rendered[request.param]


@pytest.fixture(scope="session")
def crd_validator() -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Validates custom resources with the pinned @kubernetes-models packages (Node.js)."""
    try:
        node_modules = ensure_crd_schemas()
    except ToolMissing as exc:
        require_tool("the CRD schemas (npm)", str(exc))

    def validate(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = subprocess.run(
            ["node", str(NODE_SCRIPT), str(node_modules)],
            input=json.dumps(objects),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)

    return validate
