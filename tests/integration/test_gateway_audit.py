"""The audit trail over HTTP: auditor keys only, each read recorded in the chain itself."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from outrigger.storage.schema import audit_log
from tests.gateway_server import GatewayServer, wait_for_rows
from tests.integration.test_gateway_llm import ask, new_key, start_gateway
from tests.upstream import UpstreamThread


@pytest.fixture
def gateway(data_dir: Path, upstream: UpstreamThread) -> Iterator[GatewayServer]:
    server = start_gateway(data_dir, {"primary": upstream})
    yield server
    server.stop()


def get(gw: GatewayServer, key: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{gw.url}/v1/audit/{path}",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def calls_recorded(gw: GatewayServer, count: int) -> list[dict[str, Any]]:
    """The audit records of calls (not of reads), once there are ``count``."""

    def calls() -> list[dict[str, Any]]:
        return [r for r in gw.proxy.audit.records() if r["status"] != "read"]

    return wait_for_rows(calls, count, "call records")


def test_keys_without_the_auditor_role_are_refused(gateway: GatewayServer) -> None:
    plain = new_key(gateway)
    ask(gateway, plain)
    calls_recorded(gateway, 1)
    for path in ("records", "export", "verify"):
        refused = get(gateway, plain, path)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "missing_role"
        assert "auditor" in refused.json()["error"]["message"]
        assert get(gateway, "sk-not-a-key", path).status_code == 401
    assert all(r["status"] != "read" for r in gateway.proxy.audit.records())


def test_an_auditor_reads_its_tenants_records_and_each_read_is_chained(
    gateway: GatewayServer,
) -> None:
    caller = new_key(gateway)
    other = new_key(gateway, tenant="globex")
    auditor = new_key(gateway, roles=frozenset({"auditor"}))
    for _ in range(3):
        ask(gateway, caller)
    ask(gateway, other)
    calls_recorded(gateway, 4)

    first = get(gateway, auditor, "records", limit=2)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [r["tenant_id"] for r in body["data"]] == ["acme", "acme"]
    assert body["has_more"] and body["next_after"] == body["data"][-1]["seq"]
    rest = get(gateway, auditor, "records", after=body["next_after"]).json()
    mine = body["data"] + rest["data"]
    assert all(r["tenant_id"] == "acme" for r in mine)  # never another tenant's record
    calls = [r for r in mine if r["status"] != "read"]
    assert len(calls) == 3 and all(r["actor"] for r in calls)  # the calling key, by id

    reads = [r for r in gateway.proxy.audit.records() if r["status"] == "read"]
    assert [r["alias"] for r in reads] == ["audit.read", "audit.read"]
    detail = json.loads(reads[0]["detail"])
    assert (detail["action"], detail["limit"], detail["returned"]) == ("read", 2, 2)
    key_ids = {k.id for k in gateway.proxy.tenants.list_keys("acme") if "auditor" in k.roles}
    assert {r["actor"] for r in reads} == key_ids


def test_export_streams_the_range_and_verify_finds_a_tampered_record(
    gateway: GatewayServer,
) -> None:
    caller = new_key(gateway)
    auditor = new_key(gateway, roles=frozenset({"auditor"}))
    ask(gateway, caller)
    ask(gateway, caller)
    calls_recorded(gateway, 2)
    since = time.time() - 3600
    export = get(gateway, auditor, "export", since=since)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    # The export's own read is chained before the first line is sent, so it is in range.
    assert [r["feature"] for r in lines] == ["chat", "chat", "audit"]
    assert json.loads(lines[-1]["detail"])["since"] == since
    assert get(gateway, auditor, "export", until=since).text == ""

    intact = get(gateway, auditor, "verify").json()
    assert intact["intact"] and intact["broken_at"] is None
    assert "records" not in intact  # other tenants' volume is not the auditor's business
    with gateway.proxy.db.engine.begin() as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 1).values(tokens_in=999))
    broken = get(gateway, auditor, "verify").json()
    assert (broken["intact"], broken["broken_at"]) == (False, 1)
    assert "edited" in broken["reason"]


def test_out_of_range_queries_are_client_errors_not_server_errors(
    gateway: GatewayServer,
) -> None:
    auditor = new_key(gateway, roles=frozenset({"auditor"}))
    for path in ("records", "export"):
        too_far = get(gateway, auditor, path, after=2**63)
        assert too_far.status_code == 400, too_far.text
        assert "less than or equal" in too_far.json()["error"]["message"]
        backwards = get(gateway, auditor, path, since=200.0, until=100.0)
        assert backwards.status_code == 400, backwards.text
        assert "since must not be after until" in backwards.json()["error"]["message"]
    assert get(gateway, auditor, "records", after=2**63 - 1).json()["data"] == []
