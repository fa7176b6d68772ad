"""``outrigger asyncapi`` as an operator runs it: stdout or a file, JSON or YAML, a readable
error for a broken pipelines file, and never a password from the broker URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from outrigger.config.load import default_pipelines_file
from tests.asyncapi_schema import asyncapi_errors

pytestmark = pytest.mark.timeout(120)

SECRET = "hunter2-Pa55"


def outrigger(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - callers assert on the exit code
        [sys.executable, "-m", "outrigger", *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=100,
    )


def test_prints_a_valid_document_without_the_password(tmp_path: Path) -> None:
    env = {
        "OUTRIGGER_DATA_DIR": str(tmp_path),
        "OUTRIGGER_BUS__KIND": "rabbitmq",
        "OUTRIGGER_BUS__RABBITMQ__URL": f"amqp://ops:{SECRET}@rabbit.internal:5672/prod",
    }
    run = outrigger("asyncapi", "--format", "json", env=env)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert asyncapi_errors(doc) == []
    assert doc["servers"]["rabbitmq"]["host"] == "rabbit.internal:5672"
    assert SECRET not in run.stdout + run.stderr
    assert "credit-risk-assessment.input" in doc["channels"]


def test_writes_yaml_or_json_by_suffix(tmp_path: Path) -> None:
    env = {"OUTRIGGER_DATA_DIR": str(tmp_path), "OUTRIGGER_BUS__KIND": "kafka"}
    as_yaml, as_json = tmp_path / "asyncapi.yaml", tmp_path / "asyncapi.json"
    for target in (as_yaml, as_json):
        run = outrigger("asyncapi", "-p", str(default_pipelines_file()), "-o", str(target), env=env)
        assert run.returncode == 0, run.stderr
        assert run.stdout == ""
        assert f"wrote {target}" in run.stderr
    doc = yaml.safe_load(as_yaml.read_text())
    assert doc == json.loads(as_json.read_text())
    assert asyncapi_errors(doc) == []
    forced = outrigger("asyncapi", "-f", "yaml", env=env)
    assert yaml.safe_load(forced.stdout) == doc


def test_a_broken_pipelines_file_names_the_key(tmp_path: Path) -> None:
    doc = yaml.safe_load(default_pipelines_file().read_text())
    doc["pipelines"][0]["steps"][-1]["publish"]["mode"] = "sideways"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    run = outrigger("asyncapi", "-p", str(bad), env={"OUTRIGGER_DATA_DIR": str(tmp_path)})
    assert run.returncode == 1
    assert "pipelines[0].steps[1].publish.mode: Input should be 'structured' or 'binary'" in (
        run.stderr
    )
    assert run.stdout == ""


def test_listed_in_the_help() -> None:
    run = outrigger("--help")
    assert run.returncode == 0
    assert "asyncapi" in run.stdout
