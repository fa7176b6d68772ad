"""The commands as an operator runs them: demo, config check, events publish, dlq list/replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from outrigger.config.load import default_pipelines_file
from outrigger.llm.local import local_model_available

pytestmark = pytest.mark.timeout(300)


def outrigger(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - callers assert on the exit code
        [sys.executable, "-m", "outrigger", *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_demo_json_loses_nothing() -> None:
    run = outrigger("demo", "--events", "300", "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    # The dev install has the embedded model: four tickets are summarised through the proxy.
    assert summary["tickets"] == (4 if local_model_available() else 0)
    assert summary["summaries"] == summary["tickets"]
    assert summary["events_emitted"] == 300 + summary["tickets"]
    assert summary["valid_events"] + summary["malformed_events"] == summary["events_emitted"]
    assert summary["malformed_events"] >= 1
    assert summary["results"] == summary["valid_events"]
    assert summary["dead_lettered"] == summary["malformed_events"]
    assert summary["lost"] == 0
    assert summary["duplicates"] == 0
    assert summary["model"] == "credit-risk@1.0.0"
    assert 0 < summary["p50_ms"] <= summary["p99_ms"]


def test_demo_human_output_has_table_and_summary() -> None:
    run = outrigger("demo", "--events", "60")
    assert run.returncode == 0, run.stderr
    assert "AiAssessmentCompleted" in run.stdout
    assert "nothing lost" in run.stdout


def test_config_check_names_key_path(tmp_path: Path) -> None:
    ok = outrigger("config", "check", str(default_pipelines_file()))
    assert ok.returncode == 0, ok.stderr
    assert "credit-risk@1.0.0" in ok.stdout
    doc = yaml.safe_load(default_pipelines_file().read_text())
    doc["models"]["credit-risk"]["path"] = str(
        Path(default_pipelines_file()).parent.parent / "models/credit-risk/1.0.0"
    )
    doc["pipelines"][0]["steps"][0]["score"]["inputs"]["amount"]["unit"] = "cents->miles"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    run = outrigger("config", "check", str(bad))
    assert run.returncode == 1
    assert (
        "pipelines[0].steps[0].score.inputs.amount.unit: unknown unit 'cents->miles'" in run.stderr
    )


def test_config_check_reports_model_signature_mismatch(tmp_path: Path) -> None:
    doc = yaml.safe_load(default_pipelines_file().read_text())
    doc["models"]["credit-risk"]["path"] = str(
        default_pipelines_file().parent.parent / "models/credit-risk/1.0.0"
    )
    inputs = doc["pipelines"][0]["steps"][0]["score"]["inputs"]
    inputs["income_typo"] = inputs.pop("income")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    run = outrigger("config", "check", str(bad))
    assert run.returncode == 1
    assert "pipelines[0].steps[0].score.inputs: model has no input(s) income_typo" in run.stderr
    assert "not mapped: income" in run.stderr


def test_publish_then_dlq_list_and_replay(tmp_path: Path) -> None:
    env = {"OUTRIGGER_DATA_DIR": str(tmp_path)}
    bad = outrigger(
        "events",
        "publish",
        "-",
        "--raw",
        "-k",
        "loans.application.submitted",
        env=env,
        stdin=b"definitely not json",
    )
    assert bad.returncode == 0, bad.stderr
    event = {
        "specversion": "1.0",
        "id": "cli-1",
        "source": "urn:t",
        "type": "com.acme.loans.LoanApplicationSubmitted",
        "data": {"application_id": "A-1", "applicant": {}, "loan": {}},
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    good = outrigger("events", "publish", str(path), "-k", "loans.application.submitted", env=env)
    assert good.returncode == 0, good.stderr
    refused = outrigger("events", "publish", "-", env=env, stdin=b"not json")
    assert refused.returncode == 2 and "--raw" in refused.stderr

    # Drain the queue with a worker run in-process (the worker dead-letters both: the second
    # lacks the mapped loan fields), then inspect and replay.
    import asyncio

    from outrigger.config.settings import Settings
    from outrigger.runtime import build_runtime

    async def drain() -> None:
        runtime = await build_runtime(Settings(data_dir=tmp_path))
        stop = asyncio.Event()
        worker = runtime.worker()
        task = asyncio.create_task(worker.run(stop))
        for _ in range(500):
            if worker.stats.dead_lettered >= 2:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await task
        await runtime.close()

    asyncio.run(drain())
    listed = outrigger("dlq", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(x["reason_code"] for x in letters) == ["mapping_failed", "not_json"]
    table = outrigger("dlq", "list", env=env)
    assert "not_json" in table.stdout
    unknown = outrigger("dlq", "replay", "--id", "no-such-letter", env=env)
    assert unknown.returncode == 1 and "not found" in unknown.stderr
    one = next(x for x in letters if x["reason_code"] == "not_json")
    replay = outrigger("dlq", "replay", "--id", one["id"], env=env)
    assert replay.returncode == 0 and "replayed 1" in replay.stdout
    after = [
        json.loads(line) for line in outrigger("dlq", "list", "--json", env=env).stdout.splitlines()
    ]
    assert [x["reason_code"] for x in after] == ["mapping_failed"]
