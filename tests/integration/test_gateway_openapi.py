"""The gateway keeps the promises of its own OpenAPI document: schemathesis generates requests
from ``/openapi.json`` (valid ones and broken ones) and sends them over HTTP to the real
gateway (uvicorn, tests/gateway_server.py) with a valid tenant key, so the authenticated paths
are reached. No answer may be a 5xx, and every answer's status, content type and body must be
the ones the document declares for that operation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from outrigger.storage.tenants import Tenant
from tests.gateway_server import GatewayServer, llm_settings
from tests.upstream import UpstreamThread

pytestmark = pytest.mark.timeout(120)

#: A generated model name never exists; most bodies are sent with one that does.
SERVED = {"/v1/chat/completions": "chat-default", "/v1/embeddings": "hashing-384"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    upstream = UpstreamThread().start()
    settings_ = llm_settings(
        tmp_path_factory.mktemp("openapi"), {"up": upstream.url}, embeddings={"kind": "hashing"}
    )
    server = GatewayServer(settings_).start()
    yield server
    server.stop()
    upstream.stop()


@pytest.fixture(scope="module")
def key(gateway: GatewayServer) -> str:
    gateway.proxy.tenants.create_tenant(Tenant("acme", "Acme", "enterprise", None))
    secret, _ = gateway.proxy.tenants.create_key("acme", "schemathesis")
    return secret


@pytest.fixture(scope="module")
def document(gateway: GatewayServer) -> Any:
    return schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")


def test_the_document_says_400_not_422_and_lists_the_error_statuses(
    gateway: GatewayServer,
) -> None:
    paths = httpx.get(f"{gateway.url}/openapi.json").json()["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            assert "422" not in operation["responses"], f"{method} {path}"
    chat = paths["/v1/chat/completions"]["post"]["responses"]
    assert {"400", "401", "404", "413", "429"} <= set(chat)
    assert chat["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    assert {"400", "401"} <= set(paths["/v1/usage"]["get"]["responses"])
    assert {"400", "404", "413"} <= set(paths["/v1/models/{name}/predict"]["post"]["responses"])


schema = schemathesis.pytest.from_fixture("document")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_5xx_and_every_answer_as_documented(case: Any, key: str) -> None:
    served = SERVED.get(case.operation.path)
    if served and isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
        case.body["model"] = served  # a model that exists, so the call reaches the upstream
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS, timeout=30)
