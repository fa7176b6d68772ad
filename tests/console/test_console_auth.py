"""Sign-in, the session cookie, expiry, sign-out, CSRF and roles of the web console."""

from __future__ import annotations

import asyncio
from pathlib import Path

from outrigger.console.sessions import SessionStore
from tests.console.harness import OPERATOR, Harness, build_harness, csrf_of, sign_in


async def test_sign_in_sets_a_strict_http_only_session_cookie(harness: Harness) -> None:
    key = harness.key(OPERATOR, "viewer")
    async with harness.client() as client:
        assert (await client.get("/console/")).status_code == 303  # not signed in yet
        done = await sign_in(client, key)
        assert done.status_code == 303 and done.headers["location"] == "/console/"
        cookie = next(c for c in done.headers.get_list("set-cookie") if "outrigger_console=" in c)
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # plain HTTP here
        page = await client.get("/console/")
        assert page.status_code == 200 and "LLM calls today" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
    # The id is stored only as its hash.
    with harness.proxy.db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT id_hash FROM console_sessions").scalars().all()
    token = cookie.split("outrigger_console=")[1].split(";")[0]
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64


async def test_the_cookie_is_secure_over_https(harness: Harness) -> None:
    key = harness.key(OPERATOR, "viewer")
    async with harness.client("https") as client:
        done = await sign_in(client, key)
        cookie = next(c for c in done.headers.get_list("set-cookie") if "outrigger_console=" in c)
        assert "Secure" in cookie
        assert (await client.get("/console/")).status_code == 200


async def test_bad_keys_and_keys_without_a_console_role_are_refused(harness: Harness) -> None:
    plain = harness.key(OPERATOR)  # no role
    async with harness.client() as client:
        assert (await sign_in(client, "ork-nope-nope")).status_code == 401
        refused = await sign_in(client, plain)
        assert refused.status_code == 403 and "none of the roles" in refused.text
        assert "outrigger_console=" not in str(refused.headers.get_list("set-cookie"))
        # A sign-in form posted without its token (from another site) is refused.
        forged = await client.post("/console/sign-in", data={"key": plain, "csrf_token": "x"})
        assert forged.status_code == 403


async def test_failed_sign_ins_are_throttled(data_dir: Path) -> None:
    h = build_harness(data_dir, gateway={"flush_interval_s": 0.05, "auth_failures_per_address": 3})
    good = h.key(OPERATOR, "admin")
    async with h.client() as client:
        codes = [(await sign_in(client, f"ork-bad-{n}")).status_code for n in range(4)]
        assert codes == [401, 401, 401, 429]
        assert (await sign_in(client, "ork-bad-9")).status_code == 429
        # The proxy never holds a valid key up (the throttle answers only failures).
        assert (await sign_in(client, good)).status_code == 303
    h.proxy.db.dispose()


async def test_sign_out_ends_the_session_for_good(harness: Harness) -> None:
    key = harness.key(OPERATOR, "viewer")
    async with harness.client() as client:
        await sign_in(client, key)
        token = client.cookies.get("outrigger_console")
        csrf = await csrf_of(client)
        out = await client.post("/console/sign-out", data={"csrf_token": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"
    async with harness.client() as replay:  # the old cookie, replayed
        replay.cookies.set("outrigger_console", token or "", path="/console")
        assert (await replay.get("/console/")).status_code == 303


async def test_revoking_the_key_ends_its_sessions(harness: Harness) -> None:
    key = harness.key(OPERATOR, "viewer")
    async with harness.client() as client:
        await sign_in(client, key)
        assert (await client.get("/console/")).status_code == 200
        harness.proxy.tenants.revoke_key(key.split("-")[1])
        assert (await client.get("/console/")).status_code == 303
        htmx = await client.get("/console/figures", headers={"HX-Request": "true"})
        assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/console/sign-in"


def test_sessions_expire_when_idle_and_at_their_end(harness: Harness) -> None:
    now = [1000.0]
    store = SessionStore(harness.proxy.db, ttl_s=100, idle_s=40, operator_tenant=OPERATOR,
                         clock=lambda: now[0])  # fmt: skip
    key = harness.key(OPERATOR, "viewer")
    key_id = key.split("-")[1]
    idle = store.open(key_id)
    now[0] += 39
    assert store.get(idle) is not None  # touched: idle again from here
    now[0] += 39
    assert store.get(idle) is not None
    now[0] += 41
    assert store.get(idle) is None  # 41 s without a request
    busy = store.open(key_id)
    for _ in range(3):
        now[0] += 30
        session = store.get(busy)
    assert session is not None and session.operator and session.roles == {"viewer"}
    now[0] += 30  # 120 s after sign-in: past the 100 s end whatever the activity
    assert store.get(busy) is None


async def test_a_post_without_the_csrf_token_is_refused(harness: Harness) -> None:
    admin = harness.key(OPERATOR, "admin")
    victim = harness.key("acme", "viewer")
    victim_id = victim.split("-")[1]
    async with harness.client() as client:
        await sign_in(client, admin)
        csrf = await csrf_of(client)
        # One hex digit changed (never to itself: a token ending in "0" stays a wrong one).
        tampered = csrf[:-1] + ("1" if csrf.endswith("0") else "0")
        for headers, data in (({}, {}), ({"X-CSRF-Token": "0" * 64}, {}),
                              ({}, {"csrf_token": tampered})):  # fmt: skip
            refused = await client.post(f"/console/keys/{victim_id}/revoke", headers=headers,
                                        data=data)  # fmt: skip
            assert refused.status_code == 403 and "CSRF" in refused.text
        assert harness.proxy.tenants.list_keys("acme")[0].revoked_at is None
        assert harness.admin_records() == []
        # htmx sends the token in a header; that is accepted.
        done = await client.post(f"/console/keys/{victim_id}/revoke",
                                 headers={"X-CSRF-Token": csrf})  # fmt: skip
        assert done.status_code == 200, done.text
    assert harness.proxy.tenants.list_keys("acme")[0].revoked_at is not None


async def test_a_viewer_cannot_change_anything(harness: Harness) -> None:
    viewer = harness.key(OPERATOR, "viewer", "auditor")
    other = harness.key("acme", "viewer")
    letter = await harness.dead_letter()
    async with harness.client() as client:
        await sign_in(client, viewer)
        csrf = await csrf_of(client)
        attempts = {
            "/console/tenants": {"id": "new", "tier": "free"},
            "/console/tenants/acme": {"tier": "free", "region": "", "budget": "1"},
            "/console/keys": {"tenant": "acme", "role_admin": "1"},
            f"/console/keys/{other.split('-')[1]}/revoke": {},
            "/console/dead-letters/replay": {"id": letter.id},
            "/console/models/credit-risk/rollback": {"alias": "stable"},
            "/console/models/credit-risk/promote": {"version": "1.0.0", "alias": "stable"},
        }
        for path, form in attempts.items():
            refused = await client.post(path, data={"csrf_token": csrf, **form})
            assert refused.status_code == 403, (path, refused.text)
            assert "admin" in refused.text
        page = await client.get("/console/tenants")
        assert "Revoke" not in page.text and "New key" not in page.text
    assert await harness.dlq.count() == 1
    assert harness.registry.resolve("credit-risk", "stable") == "1.1.0"
    assert [k.revoked_at for k in harness.proxy.tenants.list_keys("acme")] == [None]
    assert harness.proxy.tenants.get_tenant("new") is None
    assert harness.admin_records() == []


async def test_concurrent_requests_share_one_session(harness: Harness) -> None:
    key = harness.key(OPERATOR, "viewer")
    async with harness.client() as client:
        await sign_in(client, key)
        pages = await asyncio.gather(*(client.get("/console/") for _ in range(5)))
        assert {p.status_code for p in pages} == {200}
