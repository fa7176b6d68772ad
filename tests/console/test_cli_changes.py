"""The CLI chains the changes it makes exactly as the console does (same action names and
details, ``AuditStore.record_action``), with ``cli:<user>`` as the actor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outrigger.cli import app
from outrigger.config.settings import Settings
from outrigger.proxy.service import proxy_database
from outrigger.registry.serving import open_registry
from outrigger.storage.audit import AuditStore
from tests.console.harness import two_versions


def test_cli_changes_are_chained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTRIGGER_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    cli("tenants", "create", "acme", "--tier", "free", "--budget", "3")
    cli("tenants", "set", "acme", "--tier", "enterprise", "--region", "eu")
    cli("tenants", "budget", "acme")
    key = cli("keys", "create", "--tenant", "acme", "--role", "viewer", "--rpm", "5")
    prefix = key.split("key ")[1].split(" ")[0]
    cli("keys", "revoke", prefix)
    two_versions(Settings(data_dir=tmp_path))
    cli("models", "rollback", "credit-risk")
    cli("models", "promote", "credit-risk", "1.1.0")
    assert open_registry(Settings(data_dir=tmp_path)).resolve("credit-risk", "stable") == "1.1.0"

    db = proxy_database(Settings(data_dir=tmp_path))
    try:
        records = [r for r in AuditStore(db).records() if r["status"] == "admin"]
    finally:
        db.dispose()
    assert [r["alias"] for r in records] == [
        "admin.tenant.create", "admin.tenant.placement", "admin.tenant.budget",
        "admin.key.create", "admin.key.revoke", "admin.model.rollback", "admin.model.promote",
    ]  # fmt: skip
    assert all(r["actor"].startswith("cli:") for r in records)
    assert json.loads(records[3]["detail"])["key"] == prefix
    assert json.loads(records[3]["detail"])["limits"] == {"rpm": 5}
    assert {r["tenant_id"] for r in records[5:]} == {"_deployment"}
