"""Each page of the web console renders, shows only what the key's tenant may see, and
every change it makes is chained in the audit trail."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from outrigger.storage.ledger import LedgerRecord
from tests.console.harness import OPERATOR, Harness, csrf_of, sign_in

PAGES = ("/console/", "/console/figures", "/console/tenants", "/console/usage",
         "/console/usage?by=feature&days=7", "/console/dead-letters", "/console/models",
         "/console/pipelines", "/console/audit", "/console/audit/verify",
         "/console/asyncapi.json")  # fmt: skip


def spend(h: Harness, tenant: str, cost: float, *, feature: str = "chat", days_ago: int = 0,
          cache: str = "miss") -> None:  # fmt: skip
    ts = time.time() - days_ago * 86_400
    record = LedgerRecord(
        uuid.uuid4().hex, ts, time.strftime("%Y-%m", time.gmtime(ts)), tenant, feature,
        "chat-default", "primary", 10, 5, cost, 12.0, cache, "ok", None,
    )  # fmt: skip
    h.proxy.ledger.write([record])


async def test_every_page_renders_for_an_operator(harness: Harness) -> None:
    key = harness.key(OPERATOR, "admin", "auditor", "viewer")
    await harness.dead_letter()
    async with harness.client() as client:
        await sign_in(client, key)
        for path in PAGES:
            page = await client.get(path)
            assert page.status_code == 200, (path, page.text)
        overview = (await client.get("/console/")).text
        for label in ("Events/s", "Dead letters", "Spend this month", "Cache hit rate",
                      "Circuits", "Model versions in use"):  # fmt: skip
            assert label in overview
        assert "no worker in this process" in overview  # the gateway alone
        assert 'id="dead-letters">1<' in overview
        assert "9.9.9-test" in overview  # the loaded pipelines' model version
        assert "/console/static/htmx.min.js" in overview
        for asset in ("htmx.min.js", "uPlot.iife.min.js", "console.js", "console.css"):
            served = await client.get(f"/console/static/{asset}")
            assert served.status_code == 200 and len(served.content) > 500


async def test_overview_and_usage_show_the_ledgers_spend(harness: Harness) -> None:
    key = harness.key(OPERATOR, "viewer")
    spend(harness, "acme", 1.25)
    spend(harness, "acme", 0.75, feature="search", cache="hit")
    spend(harness, "globex", 2.0, days_ago=3)
    async with harness.client() as client:
        await sign_in(client, key)
        overview = (await client.get("/console/")).text
        assert 'id="spend-today">$2.00<' in overview
        same_month = time.gmtime(time.time() - 3 * 86_400).tm_mon == time.gmtime().tm_mon
        assert f'id="hit-rate">{"33.3" if same_month else "50.0"}%<' in overview
        assert f'id="spend-month">${4.0 if same_month else 2.0:.2f}<' in overview
        usage = await client.get("/console/usage?days=7&by=tenant")
        assert 'id="usage-spend">$4.00<' in usage.text
        chart = json.loads(usage.text.split('id="cost-data">')[1].split("</script>")[0])
        series = {s["label"]: s["values"] for s in chart["series"]}
        assert len(chart["x"]) == 7 and series["acme"][-1] == 2.0
        assert series["globex"][-4] == 2.0 and sum(series["globex"]) == 2.0
        by_feature = await client.get("/console/usage?days=7&by=feature")
        assert "search" in by_feature.text


async def test_a_tenants_keys_see_only_their_tenant(harness: Harness) -> None:
    harness.key("globex", "viewer")
    key = harness.key("acme", "admin", "viewer", "auditor")
    spend(harness, "acme", 1.0)
    spend(harness, "globex", 5.0)
    async with harness.client() as client:
        await sign_in(client, key)
        tenants = (await client.get("/console/tenants")).text
        assert "tenant-acme" in tenants and "globex" not in tenants
        assert "New tenant" not in tenants  # tiers and budgets are the operator's
        assert 'id="spend-today">$1.00<' in (await client.get("/console/")).text
        assert "Dead letters" not in (await client.get("/console/")).text
        for path in ("/console/dead-letters", "/console/models", "/console/pipelines",
                     "/console/usage?tenant=globex", "/console/audit?tenant=globex",
                     "/console/asyncapi.json"):  # fmt: skip
            assert (await client.get(path)).status_code == 403, path
        # Look-alikes of its own id name another tenant (or none): refused, never widened.
        for other in ("\u0430cme", "acme\u200b", "ACME", "acme ", "globex%00"):
            for path in ("/console/usage", "/console/audit", "/console/audit/export"):
                refused = await client.get(path, params={"tenant": other})
                assert refused.status_code == 403, (path, other)
        assert (await client.get("/console/usage", params={"tenant": "acme"})).status_code == 200
        csrf = await csrf_of(client)
        other = harness.proxy.tenants.list_keys("globex")[0]
        refused = await client.post(f"/console/keys/{other.id}/revoke", data={"csrf_token": csrf})
        assert refused.status_code == 404
        made = await client.post("/console/keys", data={"csrf_token": csrf, "tenant": "globex"})
        assert made.status_code == 403
        budget = await client.post("/console/tenants/acme",
                                   data={"csrf_token": csrf, "tier": "free", "budget": "999"})  # fmt: skip
        assert budget.status_code == 403
    assert harness.proxy.tenants.list_keys("globex")[0].revoked_at is None


async def test_changes_are_chained_with_the_key_as_actor(harness: Harness) -> None:
    key = harness.key(OPERATOR, "admin")
    key_id = key.split("-")[1]
    letter = await harness.dead_letter()
    async with harness.client() as client:
        await sign_in(client, key)
        csrf = await csrf_of(client)

        async def post(path: str, **form: str) -> str:
            done = await client.post(path, data={"csrf_token": csrf, **form})
            assert done.status_code == 200, (path, done.text)
            return done.text

        await post("/console/tenants", id="initech", name="Initech", tier="free", region="eu",
                   budget="12.5")  # fmt: skip
        await post("/console/tenants/initech", tier="enterprise", region="", budget="")
        created = await post("/console/keys", tenant="initech", name="ci", role_viewer="1",
                             roles="claims_reader, ",
                             rpm="60", models="chat-default", expires_days="2")  # fmt: skip
        new_key = created.split('id="new-key">')[1].split("<")[0]
        new_id = new_key.split("-")[1]
        await post(f"/console/keys/{new_id}/revoke")
        replayed = await post("/console/dead-letters/replay", id=letter.id)
        assert "replayed 1 dead letter" in replayed
        rolled = await post("/console/models/credit-risk/rollback", alias="stable")
        assert "rolled back 1.1.0 -&gt; 1.0.0" in rolled
        promoted = await post("/console/models/credit-risk/promote", version="1.1.0",
                              alias="stable")  # fmt: skip
        assert "passed" in promoted
    tenant = harness.proxy.tenants.get_tenant("initech")
    assert tenant is not None and (tenant.tier, tenant.region, tenant.budget_usd) == (
        "enterprise", None, None)  # fmt: skip
    assert await harness.dlq.count() == 0
    records = harness.admin_records()
    assert [r["alias"] for r in records] == [
        "admin.tenant.create", "admin.tenant.placement", "admin.tenant.budget",
        "admin.key.create", "admin.key.revoke", "admin.dlq.replay", "admin.model.rollback",
        "admin.model.promote",
    ]  # fmt: skip
    assert {r["actor"] for r in records} == {key_id}
    assert [r["tenant_id"] for r in records[:5]] == ["initech"] * 5
    assert {r["tenant_id"] for r in records[5:]} == {"_deployment"}
    made = json.loads(records[3]["detail"])
    assert made["key"] == f"ork-{new_id}" and made["roles"] == ["claims_reader", "viewer"]
    assert made["limits"] == {"rpm": 60, "models": "chat-default"}
    assert 2 * 86_400 - 60 < made["expires_at"] - records[3]["ts"] < 2 * 86_400 + 60
    assert new_key not in json.dumps(records)  # the key itself is never recorded
    assert json.loads(records[6]["detail"])["from"] == "1.1.0"
    assert json.loads(records[7]["detail"])["gate"]["passed"] is True
    assert harness.proxy.audit.verify()[1] is None


async def test_refused_changes_say_why_and_are_not_chained(harness: Harness) -> None:
    key = harness.key(OPERATOR, "admin")
    async with harness.client() as client:
        await sign_in(client, key)
        csrf = await csrf_of(client)
        cases = [
            ("/console/tenants", {"id": "Bad Id", "tier": "free"}, 400, "tenant id"),
            ("/console/tenants", {"id": "x", "tier": "platinum"}, 400, "no tier"),
            ("/console/keys", {"tenant": OPERATOR, "rpm": "-3"}, 400, "whole number"),
            ("/console/keys/abc/revoke", {}, 404, "no key"),
            ("/console/dead-letters/replay", {"id": "missing"}, 404, "no dead letter"),
            ("/console/models/credit-risk/promote", {"version": "9.9.9"}, 409, "not in"),
        ]
        for path, form, status, words in cases:
            refused = await client.post(path, data={"csrf_token": csrf, **form})
            assert (refused.status_code, words in refused.text) == (status, True), refused.text
    assert harness.admin_records() == []


@pytest.mark.parametrize("operator", [True, False])
async def test_the_audit_page_is_for_auditors_and_every_read_is_chained(
    harness: Harness, operator: bool
) -> None:
    tenant = OPERATOR if operator else "acme"
    viewer = harness.key(tenant, "viewer", "admin")
    auditor = harness.key(tenant, "auditor")
    auditor_id = auditor.split("-")[1]
    harness.proxy.audit.record_action("globex", "cli:someone", "key.revoke", {"key": "ork-x"})
    async with harness.client() as client:
        await sign_in(client, viewer)
        assert (await client.get("/console/audit")).status_code == 403
        assert '/console/audit"' not in (await client.get("/console/")).text
    async with harness.client() as client:
        await sign_in(client, auditor)
        page = await client.get("/console/audit")
        assert page.status_code == 200
        assert ("globex" in page.text) is operator  # only operators read every tenant
        verified = await client.get("/console/audit/verify")
        assert 'id="verdict" class="ok"' in verified.text
        export = await client.get("/console/audit/export", params={"since": "2000-01-01"})
        assert export.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(x) for x in export.text.splitlines()]
        assert {x["tenant_id"] for x in lines} == ({"globex", OPERATOR} if operator else {tenant})
        assert (await client.get("/console/audit/export?since=nope")).status_code == 400
    reads = [r for r in harness.proxy.audit.records() if r["status"] == "read"]
    assert [r["alias"] for r in reads] == ["audit.read", "audit.verify", "audit.export"]
    assert {r["actor"] for r in reads} == {auditor_id}
    assert all(json.loads(r["detail"])["via"] == "console" for r in reads)
