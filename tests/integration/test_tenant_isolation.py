"""Tenant isolation under attack (#18 item 2), through the real gateway: with tenant A's keys,
every route and parameter that names, or could reach, tenant B's data — usage, the cache,
the audit trail, embeddings — gets nothing of B's, whether B is named in a query parameter,
a header, a path trick, an oversized or a look-alike id, or a key built from B's prefix.

B is a real tenant with calls in the ledger, records in the audit trail and answers in the
cache, so each check has something to leak."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from outrigger.storage.tenants import Tenant, TenantError
from tests.gateway_server import GatewayServer, wait_for_rows
from tests.integration.test_gateway_llm import new_key, start_gateway
from tests.upstream import UpstreamThread

pytest.importorskip("tokenizers", reason="extra 'embeddings' (local embedder) not installed")

SECRET_QUESTION = "What is the settlement amount in the Hartley merger file?"
#: Everything a client could try to name another tenant with.
TENANT_HEADERS = ("X-Outrigger-Tenant", "X-Tenant-Id", "X-Tenant", "X-Forwarded-User")


@pytest.fixture
def gateway(data_dir: Path, upstream: UpstreamThread) -> Iterator[GatewayServer]:
    server = start_gateway(
        data_dir, {"primary": upstream}, cache={"enabled": True, "scope": "auto"}
    )
    yield server
    server.stop()


class Tenants:
    """Tenant B with history; tenant A's ordinary and auditor keys."""

    def __init__(self, gw: GatewayServer) -> None:
        self.gw = gw
        self.b = new_key(gw, "bank-b")
        self.b_auditor = new_key(gw, "bank-b", roles=frozenset({"auditor"}))
        self.a = new_key(gw, "bank-a")
        self.a_auditor = new_key(gw, "bank-a", roles=frozenset({"auditor"}))
        self.embedder = ""

    def call(self, key: str, path: str, method: str = "GET", **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}", **kw.pop("headers", {})}
        return httpx.request(method, f"{self.gw.url}{path}", headers=headers, timeout=30, **kw)

    def chat(self, key: str, text: str, **kw: Any) -> httpx.Response:
        body = {"model": "chat-default", "messages": [{"role": "user", "content": text}]}
        return self.call(key, "/v1/chat/completions", "POST", json=body, **kw)


@pytest.fixture
def tenants(gateway: GatewayServer) -> Tenants:
    t = Tenants(gateway)
    assert t.chat(t.b, SECRET_QUESTION).headers["x-outrigger-cache"] == "miss"
    assert t.chat(t.b, SECRET_QUESTION).headers["x-outrigger-cache"] == "hit"
    t.embedder = gateway.proxy.embedder.model_id if gateway.proxy.embedder else ""
    embed = {"model": t.embedder, "input": ["B's private note"]}
    assert t.call(t.b, "/v1/embeddings", "POST", json=embed).status_code == 200
    return t


def b_leaks(text: str) -> bool:
    return "bank-b" in text or "Hartley" in text


def test_usage_is_the_callers_whatever_the_request_names(tenants: Tenants) -> None:
    tricks: list[dict[str, Any]] = [
        {"params": {"tenant": "bank-b"}},
        {"params": {"tenant_id": "bank-b", "tenant[]": "bank-b"}},
        *({"headers": {h: "bank-b"}} for h in TENANT_HEADERS),
    ]
    for trick in tricks:
        answer = tenants.call(tenants.a, "/v1/usage", **trick)
        assert answer.status_code == 200, trick
        assert answer.json()["tenant"] == "bank-a" and answer.json()["data"] == [], trick
        assert not b_leaks(answer.text), trick


def test_path_tricks_reach_no_other_route_and_no_other_tenant(tenants: Tenants) -> None:
    for path in (
        "/v1/usage/../usage",
        "/v1//usage",
        "/V1/usage",
        "/v1/usage%2F..%2Fbank-b",
        "/v1/tenants/bank-b/usage",
        "/v1/usage;tenant=bank-b",
        "/v1/audit/records/../../usage",
    ):
        answer = tenants.call(tenants.a, path)
        assert answer.status_code in (200, 404, 405), (path, answer.status_code)
        assert not b_leaks(answer.text), path


def test_another_tenants_cached_answer_is_never_served(
    tenants: Tenants, upstream: UpstreamThread
) -> None:
    tricks = [{}, *({h: "bank-b"} for h in TENANT_HEADERS)]
    questions = [f"{SECRET_QUESTION} Case {i}." for i in range(len(tricks))]
    for question in questions:  # B has each in its cache
        tenants.chat(tenants.b, question)
        assert tenants.chat(tenants.b, question).headers["x-outrigger-cache"] == "hit"
    before = upstream.behaviour.requests
    for question, headers in zip(questions, tricks, strict=True):
        answer = tenants.chat(tenants.a, question, headers=headers)
        assert answer.headers["x-outrigger-cache"] == "miss", headers
    assert upstream.behaviour.requests == before + len(tricks)  # each went to the provider


def test_a_purge_by_a_forgets_only_as_entries(tenants: Tenants) -> None:
    for trick in ({"params": {"tenant": "bank-b"}}, {"headers": {"X-Outrigger-Tenant": "bank-b"}}):
        assert tenants.call(tenants.a, "/v1/cache", "DELETE", **trick).status_code == 200
    assert tenants.chat(tenants.b, SECRET_QUESTION).headers["x-outrigger-cache"] == "hit"


def test_an_auditor_of_a_reads_only_as_records(tenants: Tenants, gateway: GatewayServer) -> None:
    tenants.chat(tenants.a, "hello from a")

    def a_records() -> list[dict[str, Any]]:
        answer = tenants.call(tenants.a_auditor, "/v1/audit/records", params={"tenant": "bank-b"})
        return list(answer.json()["data"])

    records = wait_for_rows(a_records, 1, "audit records of bank-a")
    assert {r["tenant_id"] for r in records} == {"bank-a"}
    for route, params in (
        ("/v1/audit/export", {"tenant": "bank-b"}),
        ("/v1/audit/verify", {"tenant_id": "bank-b"}),
        ("/v1/audit/records", {"after": "0", "tenant": "bank-b"}),
    ):
        for headers in ({}, {"X-Outrigger-Tenant": "bank-b"}):
            answer = tenants.call(tenants.a_auditor, route, params=params, headers=headers)
            assert answer.status_code == 200, (route, answer.text)
            assert not b_leaks(answer.text), (route, headers)
    # B's auditor does see B's records: the checks above had something to find.
    b_view = tenants.call(tenants.b_auditor, "/v1/audit/records").text
    assert "bank-b" in b_view


def test_keys_built_from_another_tenants_prefix_are_refused(tenants: Tenants) -> None:
    b_prefix = tenants.b.rsplit("-", 1)[0]
    a_secret = tenants.a.rsplit("-", 1)[1]
    for forged in (f"{b_prefix}-{a_secret}", f"{b_prefix}-", b_prefix, tenants.b[:-1]):
        assert tenants.call(forged, "/v1/usage").status_code == 401, forged


def test_oversized_and_look_alike_tenant_ids_reach_nothing(
    tenants: Tenants, gateway: GatewayServer
) -> None:
    huge = tenants.call(tenants.a, "/v1/usage", headers={"X-Outrigger-Tenant": "b" * 100_000})
    assert huge.status_code == 431
    long_query = tenants.call(tenants.a, "/v1/usage", params={"tenant": "bank-b" * 2000})
    assert long_query.status_code in (200, 414, 431) and not b_leaks(long_query.text)
    # Ids that look like B's are not ids at all: they cannot be created, so no key names one.
    store = gateway.proxy.tenants
    cyrillic_a, unicode_hyphen = "\u0430", "\u2010"
    look_alikes = (
        f"b{cyrillic_a}nk-b",
        f"bank{unicode_hyphen}b",
        "bank-b\u200b",  # a zero-width space
        "bank-b ",
        "BANK-B",
        "b" * 65,
    )
    for look_alike in look_alikes:
        with pytest.raises(TenantError):
            store.create_tenant(Tenant(look_alike, "x", "enterprise"))
    assert store.get_tenant("BANK-B") is None


def test_embeddings_and_the_ledger_stay_per_tenant(tenants: Tenants) -> None:
    embed = {"model": tenants.embedder, "input": ["A's note"], "user": "bank-b"}
    answer = tenants.call(
        tenants.a, "/v1/embeddings", "POST", json=embed, headers={"X-Outrigger-Tenant": "bank-b"}
    )
    assert answer.status_code == 200
    usage = tenants.call(tenants.a, "/v1/usage").json()
    b_usage = tenants.call(tenants.b, "/v1/usage").json()
    assert usage["tenant"] == "bank-a" and b_usage["tenant"] == "bank-b"
    a_calls = sum(line["calls"] for line in usage["data"])
    b_calls = sum(line["calls"] for line in b_usage["data"])
    assert a_calls == 1  # only A's embedding call
    assert b_calls == 3  # B's chat miss, chat hit and embedding call
