"""The web console in a real browser: Debian's chromium driven by Playwright (which cannot
download browsers of its own here; ``make browser`` installs chromium), against a real
``outrigger run`` (worker, model watcher, gateway with its console) on the SQLite bus.

Set OUTRIGGER_CONSOLE_SCREENSHOTS=docs/console to refresh the documentation's screenshots.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from outrigger.console.figures import month_start
from outrigger.console.render import usd
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.proxy.service import proxy_database
from outrigger.registry.gate import promote
from outrigger.registry.serving import open_registry
from outrigger.storage.audit import AuditStore
from outrigger.storage.ledger import LedgerReports
from outrigger.storage.tenants import Tenant, TenantStore
from tests.console.sidecar import (
    Sidecar,
    declare_results,
    free_port,
    next_result,
    publish,
    put_letter,
    run_async,
    sidecar_settings,
)
from tests.registry_models import BUNDLED
from tests.upstream import UpstreamThread

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def chromium() -> str:
    """Debian's chromium; skipped without it, except under CI=true (.ci/services.sh and
    ``make browser`` install it)."""
    path = shutil.which("chromium")
    if path is None:
        reason = "chromium is not installed (make browser)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}, and CI=true requires the browser test")
        pytest.skip(reason)
    return path


class World:
    """The sidecar and what the test set up in it before it started."""

    def __init__(self, data_dir: Path, upstream: UpstreamThread) -> None:
        self.settings = sidecar_settings(data_dir, upstream.url, free_port())
        registry = open_registry(self.settings)
        for version in ("1.0.0", "1.1.0"):
            registry.publish(BUNDLED, "credit-risk", version)
            promote(registry, "credit-risk", version, "stable")
        self.db = proxy_database(self.settings)
        store = TenantStore(self.db)
        store.create_tenant(Tenant("ops", "Operations", "enterprise"))
        store.create_tenant(Tenant("acme", "Acme Bank", "enterprise"))
        self.admin, self.admin_info = store.create_key(
            "ops", "console", roles=frozenset({"admin", "auditor", "viewer"})
        )
        self.viewer, _ = store.create_key("ops", "read-only", roles=frozenset({"viewer"}))
        self.caller, self.caller_info = store.create_key("acme", "app")
        self.loans = LoanService(holdout_rows(), random.Random(11))
        run_async(declare_results(self.settings))
        self.sidecar = Sidecar(self.settings).start()

    def chat(self, key: str, feature: str = "chat", text: str = "hi") -> httpx.Response:
        return httpx.post(
            f"{self.sidecar.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}", "X-Outrigger-Feature": feature},
            json={"model": "chat-default", "messages": [{"role": "user", "content": text}]},
            timeout=30,
        )

    def spend(self, tenant: str, calls: int) -> float:
        """The tenant's spend this month, once the ledger holds ``calls`` calls."""
        reports = LedgerReports(self.db)
        for _ in range(200):
            totals = reports.totals(month_start(time.time()), time.time() + 1, tenant)
            if totals.calls >= calls:
                return totals.cost_usd
            time.sleep(0.05)
        raise AssertionError(f"the ledger never held {calls} calls of {tenant}")

    def scored_by(self) -> str:
        """Publish an application now; the version of the model that scored it."""
        event_id, message = self.loans.cloudevent()
        run_async(publish(self.settings, message))
        result = run_async(next_result(self.settings, event_id))
        (model,) = result["models"]
        return str(model["version"])

    def close(self) -> None:
        self.sidecar.stop()
        self.db.dispose()


@pytest.fixture
def world(data_dir: Path, upstream: UpstreamThread) -> Iterator[World]:
    w = World(data_dir, upstream)
    yield w
    w.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True)
        yield b
        b.close()


def shots(tmp_path: Path) -> Path:
    wanted = os.environ.get("OUTRIGGER_CONSOLE_SCREENSHOTS")
    return Path(wanted) if wanted else tmp_path


def sign_in(page: Any, url: str, key: str) -> None:
    page.goto(f"{url}/console/")
    page.wait_for_url("**/console/sign-in")
    page.fill("#key", key)
    page.click("#sign-in")
    page.wait_for_selector("text=LLM calls today")


def go(page: Any, link: str, heading: str) -> None:
    page.click(f"header nav >> text={link}")
    page.wait_for_selector(f"h1:has-text('{heading}')")


def csrf_of(page: Any) -> str:
    token: str = page.get_attribute("input[name=csrf_token]", "value")
    return token


def post_status(page: Any, path: str, headers: dict[str, str] | None = None) -> int:
    """A same-origin POST from the page itself (cookies go with it, as a form's would)."""
    status: int = page.evaluate(
        "([path, headers]) => fetch(path, {method: 'POST', headers}).then(r => r.status)",
        [path, headers or {}],
    )
    return status


def test_an_operator_runs_the_deployment_from_the_console(
    world: World, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    out = shots(tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    url = world.sidecar.url
    for n, feature in enumerate(("chat", "chat", "summary")):  # acme spends something
        assert world.chat(world.caller, feature, "tell me more " * (n + 1)).status_code == 200
    assert world.scored_by() == "1.1.0"
    letter_id, message = world.loans.cloudevent()
    letter = run_async(put_letter(world.settings, message))

    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, url, world.admin)
    expect(page.locator("#dead-letters")).to_have_text("1")
    expect(page.locator(".model-version")).to_have_text("1.1.0")
    page.screenshot(path=str(out / "overview.png"))

    # A tenant's spend, as the ledger has it.
    spent = world.spend("acme", 3)
    assert spent > 0
    go(page, "Tenants & keys", "Tenants")
    expect(page.locator("#tenant-acme .spend")).to_have_text(usd(spent))
    go(page, "Usage & spend", "Usage")
    expect(page.locator("#usage")).to_contain_text("acme")
    page.wait_for_selector(".chart .uplot")  # uPlot drew the chart
    page.screenshot(path=str(out / "usage.png"))

    # Revoke the caller's key: its next API call is refused.
    go(page, "Tenants & keys", "Tenants")
    row = f"#key-{world.caller_info.id}"
    page.click(f"{row} button:has-text('Revoke')")
    expect(page.locator(f"{row} .status")).to_have_text("revoked")
    page.screenshot(path=str(out / "tenants.png"))
    assert world.chat(world.caller).status_code == 401

    # Replay a dead letter: the worker processes it.
    go(page, "Dead letters", "Dead letters")
    expect(page.locator("#letter-count")).to_have_text("1 waiting")
    page.screenshot(path=str(out / "dead-letters.png"))
    page.click(f"#letter-{letter.id} button.replay")
    expect(page.locator("#letter-count")).to_have_text("0 waiting")
    replayed = run_async(next_result(world.settings, letter_id))
    assert replayed["source_event_id"] == letter_id

    # Roll the model back: the worker follows.
    go(page, "Models", "Models")
    expect(page.locator("#alias-credit-risk-stable .current")).to_have_text("1.1.0")
    page.click("#alias-credit-risk-stable button.rollback")
    expect(page.locator("#alias-credit-risk-stable .current")).to_have_text("1.0.0")
    page.screenshot(path=str(out / "models.png"))
    for _ in range(50):
        if world.scored_by() == "1.0.0":
            break
    else:
        raise AssertionError("the worker never scored with the rolled-back version")
    go(page, "Overview", "Overview")
    expect(page.locator(".model-version")).to_have_text("1.0.0")

    go(page, "Pipelines", "Pipelines")
    expect(page.locator("#pipelines")).to_contain_text("credit-risk-assessment")
    page.screenshot(path=str(out / "pipelines.png"))
    go(page, "Audit", "Audit trail")
    page.click("#verify")
    expect(page.locator("#verdict")).to_contain_text("intact")
    page.screenshot(path=str(out / "audit.png"))

    # A form posted without the session's CSRF token is refused (and changes nothing).
    viewer_id = world.viewer.split("-")[1]
    assert post_status(page, f"/console/keys/{viewer_id}/revoke") == 403
    assert TenantStore(world.db).list_keys("ops")[1].revoked_at is None

    page.click("#sign-out")
    page.wait_for_url("**/console/sign-in")
    page.goto(f"{url}/console/tenants")
    page.wait_for_url("**/console/sign-in")

    # Every change made in the console is in the audit chain, by the admin's key.
    changes = [r for r in AuditStore(world.db).records() if r["status"] == "admin"]
    assert [r["alias"] for r in changes] == [
        "admin.key.revoke", "admin.dlq.replay", "admin.model.rollback",
    ]  # fmt: skip
    assert {r["actor"] for r in changes} == {world.admin_info.id}
    for png in out.glob("*.png"):
        assert png.stat().st_size > 5_000


def test_a_viewer_cannot_change_anything(world: World, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    sign_in(page, world.sidecar.url, world.viewer)
    go(page, "Tenants & keys", "Tenants")
    expect(page.locator("#keys")).to_contain_text(world.admin_info.prefix)
    assert page.locator("button:has-text('Revoke')").count() == 0
    assert page.locator("text=New key").count() == 0
    csrf = csrf_of(page)
    # Even with its valid CSRF token, the viewer's session may not change anything.
    forbidden = post_status(page, f"/console/keys/{world.admin_info.id}/revoke",
                            {"X-CSRF-Token": csrf})  # fmt: skip
    assert forbidden == 403
    go(page, "Models", "Models")
    assert page.locator("button.rollback").count() == 0
    assert post_status(page, "/console/models/credit-risk/rollback", {"X-CSRF-Token": csrf}) == 403
    assert open_registry(world.settings).resolve("credit-risk", "stable") == "1.1.0"
    assert TenantStore(world.db).list_keys("ops")[0].revoked_at is None
    assert page.locator("header nav >> text=Audit").count() == 0
