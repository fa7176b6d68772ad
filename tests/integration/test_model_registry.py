"""Registry models in a running worker: pinning, hot switch on promotion and rollback,
every result naming the version that scored it; and the `outrigger models` commands."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from outrigger.bus.base import Subscription
from outrigger.config.load import default_pipelines_file
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.registry.gate import promote
from outrigger.registry.registry import Registry
from outrigger.registry.serving import open_registry
from outrigger.runtime import build_runtime
from tests.registry_models import BUNDLED, weak_model

pytestmark = pytest.mark.timeout(120)


def registry_pipelines(tmp_path: Path) -> Path:
    doc = yaml.safe_load(default_pipelines_file().read_text())
    doc["models"]["credit-risk"] = {"registry": "credit-risk", "ref": "stable"}
    path = tmp_path / "pipelines.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def settings_for(tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        data_dir=tmp_path,
        pipelines_file=registry_pipelines(tmp_path),
        bus={"kind": "memory"},
        registry={"poll_s": 0.05},
        **extra,
    )  # type: ignore[arg-type]


def two_versions(settings: Settings) -> Registry:
    """credit-risk 1.0.0 (stable) and 1.1.0 (same bytes: only the version differs)."""
    registry = open_registry(settings)
    for version in ("1.0.0", "1.1.0"):
        registry.publish(BUNDLED, "credit-risk", version)
    promote(registry, "credit-risk", "1.0.0", "stable")
    return registry


async def test_worker_follows_promotion_and_rollback_without_restart(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    registry = two_versions(settings)
    runtime = await build_runtime(settings)
    assert runtime.watcher is not None
    results = Subscription("res", settings.bus.exchange, ("ai.#",))
    await runtime.bus.declare(results)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(runtime.worker().run(stop)),
        asyncio.create_task(runtime.watcher.run(stop)),
    ]
    service = LoanService(holdout_rows(), random.Random(3))
    stream = runtime.bus.consume(results, prefetch=100)

    async def scored_by() -> str:
        await runtime.bus.publish(service.cloudevent()[1], exchange=settings.bus.exchange)
        delivery = await asyncio.wait_for(anext(stream), 10)
        await delivery.ack()
        (model,) = json.loads(delivery.message.body)["data"]["models"]
        return str(model["version"])

    async def eventually(version: str) -> None:
        for _ in range(200):
            if await scored_by() == version:
                return
        raise AssertionError(f"the worker never switched to {version}")

    try:
        assert await scored_by() == "1.0.0"
        promote(registry, "credit-risk", "1.1.0", "stable")
        await eventually("1.1.0")
        registry.rollback("credit-risk", "stable")
        await eventually("1.0.0")
        assert await scored_by() == "1.0.0"
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await runtime.close()


async def test_environment_pin_wins_over_the_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTRIGGER_MODELS__CREDIT_RISK", "1.1.0")
    settings = settings_for(tmp_path)
    two_versions(settings)
    runtime = await build_runtime(settings)
    try:
        assert runtime.pipelines.models() == {"credit-risk": "1.1.0"}
    finally:
        await runtime.close()


def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUTRIGGER_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "outrigger", "models", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_models_commands(tmp_path: Path) -> None:
    assert (
        cli(
            "publish",
            str(BUNDLED),
            "--name",
            "credit-risk",
            "--version",
            "2.1.3",
            data_dir=tmp_path,
        ).returncode
        == 0
    )
    again = cli(
        "publish", str(BUNDLED), "--name", "credit-risk", "--version", "2.1.3", data_dir=tmp_path
    )
    assert again.returncode == 1 and "immutable" in again.stderr
    ok = cli("promote", "credit-risk", "2.1.3", "--alias", "stable", data_dir=tmp_path)
    assert ok.returncode == 0 and "passed: auc 0.84" in ok.stdout
    weak = weak_model(tmp_path / "weak")
    assert (
        cli(
            "publish", str(weak), "--name", "credit-risk", "--version", "2.2.0", data_dir=tmp_path
        ).returncode
        == 0
    )
    refused = cli("promote", "credit-risk", "2.2.0", data_dir=tmp_path)
    assert refused.returncode == 1 and "REFUSED" in refused.stderr
    forced = cli("promote", "credit-risk", "2.2.0", "--force", data_dir=tmp_path)
    assert forced.returncode == 0
    listed = cli("list", data_dir=tmp_path)
    assert "2.2.0" in listed.stdout and "stable" in listed.stdout
    back = cli("rollback", "credit-risk", data_dir=tmp_path)
    assert back.returncode == 0 and "2.2.0 -> 2.1.3" in back.stdout
    shown = json.loads(cli("show", "credit-risk", "stable", data_dir=tmp_path).stdout)
    assert shown["version"] == "2.1.3"
    assert (
        shown["metadata"]["sha256"] == json.loads((BUNDLED / "metadata.json").read_text())["sha256"]
    )
