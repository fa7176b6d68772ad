"""Every rendered object against its schema, offline.

Built-in kinds: the OpenAPI schemas that ``kubernetes-validate`` ships per Kubernetes version,
in strict mode (unknown fields are errors), for the chart's oldest supported version and the
newest the package knows. Custom resources (Cilium, KEDA): the schemas of the pinned
``@kubernetes-models`` npm packages, run by Node.js (tests/deploy/node).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.deploy.brokers import BROKERS, render_bus
from tests.deploy.conftest import require_tool
from tests.deploy.render import Rendered

KUBE_VERSIONS = ("1.29", "1.37")  # Chart.yaml's kubeVersion floor; the newest schemas shipped
CUSTOM_KINDS = {"CiliumNetworkPolicy", "ScaledObject", "TriggerAuthentication"}
Validator = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@pytest.fixture(scope="session")
def kubernetes_validate() -> Any:
    try:
        import kubernetes_validate
    except ImportError as exc:
        require_tool("kubernetes-validate", f"{exc}; pip install -e '.[dev]' installs it")
    return kubernetes_validate


def schema_errors(kv: Any, obj: dict[str, Any], version: str) -> str | None:
    try:
        kv.validate(obj, version, strict=True)
    except kv.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        return f"{obj['kind']} {obj['metadata']['name']}: {path}: {exc.message}"
    return None


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_builtin_objects_match_the_kubernetes_schemas(
    profile: Rendered, version: str, kubernetes_validate: Any
) -> None:
    builtin = [o for o in profile.objects if o["kind"] not in CUSTOM_KINDS]
    errors = [schema_errors(kubernetes_validate, obj, version) for obj in builtin]
    assert [e for e in errors if e] == []


def test_custom_resources_match_their_schemas(
    rendered: dict[str, Rendered], crd_validator: Validator
) -> None:
    custom = [o for r in rendered.values() for o in r.objects if o["kind"] in CUSTOM_KINDS]
    assert {o["kind"] for o in custom} == CUSTOM_KINDS, "every custom kind is exercised"
    results = crd_validator(custom)
    assert [r for r in results if r["errors"]] == []


def test_kubernetes_schemas_catch_a_broken_deployment(
    rendered: dict[str, Rendered], kubernetes_validate: Any
) -> None:
    worker = rendered["default"].component("Deployment", "worker")
    wrong_type = copy.deepcopy(worker)
    wrong_type["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = "root"
    typo = copy.deepcopy(worker)
    typo["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    for broken in (wrong_type, typo):
        assert schema_errors(kubernetes_validate, broken, KUBE_VERSIONS[-1]) is not None


def broken_custom_resources(rendered: dict[str, Rendered]) -> list[dict[str, Any]]:
    cnp = rendered["default"].component("CiliumNetworkPolicy", "worker")
    bad_protocol = copy.deepcopy(cnp)
    bad_protocol["spec"]["egress"][1]["toPorts"][0]["ports"][0]["protocol"] = "HTTP"
    bad_fqdn = copy.deepcopy(cnp)
    bad_fqdn["spec"]["egress"][-1]["toFQDNs"][0] = {"matchName": "https://api.openai.com/v1"}
    scaled = copy.deepcopy(rendered["keda"].of_kind("ScaledObject")[0])
    del scaled["spec"]["triggers"]
    unknown = copy.deepcopy(cnp) | {"kind": "CiliumNetworkPolice"}
    return [bad_protocol, bad_fqdn, scaled, unknown]


def test_crd_schemas_catch_broken_objects(
    rendered: dict[str, Rendered], crd_validator: Validator
) -> None:
    results = crd_validator(broken_custom_resources(rendered))
    expected = ["protocol", "toFQDNs/0/matchName", "required property triggers", "no schema"]
    assert len(results) == len(expected)
    for result, fragment in zip(results, expected, strict=True):
        assert fragment in (result["errors"] or ""), result


def test_every_brokers_objects_match_their_schemas(
    helm: Any, crd_validator: Validator, kubernetes_validate: Any
) -> None:
    """The KEDA trigger and authentication of each broker, and the policies reaching it."""
    custom: list[dict[str, Any]] = []
    for kind in BROKERS:
        for flavor in ("cilium", "kubernetes"):
            rendered = render_bus(helm, kind, {"networkPolicy": {"flavor": flavor}})
            builtin = [o for o in rendered.objects if o["kind"] not in CUSTOM_KINDS]
            errors = [schema_errors(kubernetes_validate, o, KUBE_VERSIONS[-1]) for o in builtin]
            assert [e for e in errors if e] == [], (kind, flavor)
            custom += [o for o in rendered.objects if o["kind"] in CUSTOM_KINDS]
    assert {o["kind"] for o in custom} == CUSTOM_KINDS
    results = crd_validator(custom)
    assert [r for r in results if r["errors"]] == []
