"""``outrigger survey`` on files: a JSON Lines capture (structured CloudEvents, plain JSON,
malformed lines) and AsyncAPI 2.6 and 3.0 documents; the report files, the starter
configuration ``outrigger config check`` accepts, and no planted value anywhere."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from outrigger.cli import app
from outrigger.errors import MissingExtraError
from outrigger.privacy import EventSanitizer, RegexDetector, SanitizationConfig

pytestmark = pytest.mark.timeout(120)

#: Values planted in the capture; none may appear in any output.
NAMES = ["Priya Raman", "Joaquim Barros", "Helena Lindqvist"]
EMAILS = ["priya.raman@example.com", "j.barros@example.org", "helena.l@example.net"]
ACCOUNTS = ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606"]
COMPLAINT_WORDS_TEXT = (
    "I was charged twice for the same transfer and the branch told me to wait another two "
    "weeks which is not acceptable because my rent is due and nobody answers the phone"
)
COMPLAINT_WORDS = COMPLAINT_WORDS_TEXT.split()


def outrigger(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - callers assert on the exit code
        [sys.executable, "-m", "outrigger", *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=100,
    )


def capture_lines(r: random.Random) -> list[str]:
    lines = []
    for i in range(12):
        n = i % 3
        lines.append(json.dumps({
            "specversion": "1.0", "id": f"cust-{i}", "source": "urn:acme:crm",
            "type": "com.acme.crm.CustomerRegistered", "time": f"2026-02-01T09:00:{i:02d}Z",
            "data": {"customer_id": f"C-{i}", "customer": {"name": NAMES[n], "email": EMAILS[n]},
                     "accounts": [{"iban": ACCOUNTS[n], "kind": "current"}]},
        }))  # fmt: skip
        lines.append(json.dumps({
            "specversion": "1.0", "id": f"cmp-{i}", "source": "urn:acme:support",
            "type": "com.acme.support.ComplaintFiled", "time": f"2026-02-01T09:00:{i:02d}Z",
            "data": {"ticket_id": f"T-{i}", "text": " ".join(r.sample(COMPLAINT_WORDS, 20))},
        }))  # fmt: skip
        lines.append(
            json.dumps({"kind": "OrderShipped", "order_id": f"O-{i}", "status": "shipped"})
        )
    return [*lines, "{broken json", "[1, 2]", ""]


def by_type(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["type"]: t for t in report["types"]}


def assert_no_planted_value(*texts: str) -> None:
    for text in texts:
        for planted in [*NAMES, *EMAILS, *ACCOUNTS]:
            assert planted not in text


def test_jsonl_capture_report_and_starter_config(tmp_path: Path) -> None:
    capture = tmp_path / "capture.jsonl"
    capture.write_text("\n".join(capture_lines(random.Random(7))) + "\n")
    out_dir = tmp_path / "report"
    run = outrigger(
        "survey", "--jsonl", str(capture), "--type-field", "kind", "--out", str(out_dir), "--json"
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["messages"] == 38
    assert report["malformed"] == {"not_json": 1, "not_object": 1}
    types = by_type(report)
    assert types["com.acme.crm.CustomerRegistered"]["labels"] == ["sensitive"]
    sensitive = types["com.acme.crm.CustomerRegistered"]["sensitive_fields"]
    assert set(sensitive) == {"customer.name", "customer.email", "accounts[*].iban"}
    assert types["com.acme.support.ComplaintFiled"]["labels"] == ["ai-candidate"]
    assert types["OrderShipped"]["labels"] == ["low-value"]
    assert types["OrderShipped"]["count"] == 12
    # The window is the span of the events' time attributes (11 s).
    assert types["com.acme.support.ComplaintFiled"]["rate_per_s"] == pytest.approx(12 / 11, 0.01)
    files = {p.name: p.read_text() for p in out_dir.iterdir()}
    assert set(files) == {
        "survey.md",
        "survey.html",
        "survey-pipelines.yaml",
        "survey-settings.yaml",
    }
    assert "| customer.email | string | string | 100% | EMAIL_ADDRESS x12 |" in files["survey.md"]
    assert_no_planted_value(run.stdout, run.stderr, *files.values())
    settings = yaml.safe_load(files["survey-settings.yaml"])
    rules = settings["privacy"]["events"]["events"]["com.acme.crm.CustomerRegistered"]["fields"]
    assert {r["path"]: r["action"] for r in rules} == {
        "accounts[*].iban": "mask", "customer.email": "pseudonymize", "customer.name": "pseudonymize",
    }  # fmt: skip
    # The rules do what they say on an event of that type: no planted value survives.
    config = SanitizationConfig.model_validate(settings["privacy"]["events"])
    event = json.loads(capture_lines(random.Random(7))[0])
    cleaned = EventSanitizer(config, RegexDetector()).sanitize(event["type"], event["data"])
    assert_no_planted_value(json.dumps(cleaned.payload))
    assert cleaned.payload["customer_id"] == "C-0"
    pipelines = yaml.safe_load(files["survey-pipelines.yaml"])["pipelines"]
    assert [p[True]["types"] for p in pipelines] == [  # YAML 1.1 reads a bare on: as True
        ["com.acme.crm.CustomerRegistered"], ["com.acme.support.ComplaintFiled"]
    ]  # fmt: skip
    assert "#     inputs:\n      #       text: data.text" in files["survey-pipelines.yaml"]
    check = outrigger(
        "config", "check", str(out_dir / "survey-pipelines.yaml"),
        env={"OUTRIGGER_CONFIG_FILE": str(out_dir / "survey-settings.yaml")},
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert "2 pipeline(s)" in check.stdout


def test_html_report_escapes_what_it_shows(tmp_path: Path) -> None:
    capture = tmp_path / "c.jsonl"
    event = {
        "specversion": "1.0",
        "id": "1",
        "source": "urn:<b>x</b>",
        "type": "<script>t</script>",
    }
    capture.write_text(json.dumps({**event, "data": {"a": 1}}) + "\n")
    run = outrigger("survey", "--jsonl", str(capture), "--out", str(tmp_path / "r"))
    assert run.returncode == 0, run.stderr
    page = (tmp_path / "r" / "survey.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;t&lt;/script&gt;" in page
    assert "urn:&lt;b&gt;x&lt;/b&gt;" in page
    assert "http" not in page  # no external assets
    assert "&lt;script&gt;" in (tmp_path / "r" / "survey.md").read_text()


ASYNCAPI_26 = """
asyncapi: 2.6.0
info: {title: Acme domain events, version: 1.0.0}
channels:
  crm.customer.registered:
    subscribe:
      message: {$ref: '#/components/messages/CustomerRegistered'}
  support.complaints:
    subscribe:
      message:
        oneOf:
          - $ref: '#/components/messages/ComplaintFiled'
          - $ref: '#/components/messages/OrderShipped'
components:
  messages:
    CustomerRegistered:
      name: com.acme.crm.CustomerRegistered
      payload: {$ref: '#/components/schemas/Customer'}
    ComplaintFiled:
      name: com.acme.support.ComplaintFiled
      payload:
        type: object
        required: [ticket_id, text]
        properties:
          ticket_id: {type: string}
          text: {type: string, maxLength: 4000}
    OrderShipped:
      name: com.acme.orders.OrderShipped
      payload:
        type: object
        required: [order_id]
        properties:
          order_id: {type: string, format: uuid}
          status: {type: string, enum: [shipped, delivered]}
          shipped_at: {type: string, format: date-time}
  schemas:
    Customer:
      type: object
      required: [customer_id, customer]
      properties:
        customer_id: {type: string}
        customer:
          type: object
          required: [email]
          properties:
            full_name: {type: string}
            email: {type: string, format: email}
            date_of_birth: {type: string}
        accounts:
          type: array
          items:
            type: object
            properties:
              iban: {type: string}
"""

ASYNCAPI_30 = {
    "asyncapi": "3.0.0",
    "info": {"title": "Acme domain events", "version": "1.0.0"},
    "channels": {
        "customers": {
            "address": "crm.customer.registered",
            "messages": {"registered": {"$ref": "#/components/messages/CustomerRegistered"}},
        },
        "complaints": {
            "address": "support.complaints",
            "messages": {
                "filed": {"$ref": "#/components/messages/ComplaintFiled"},
                "shipped": {"$ref": "#/components/messages/OrderShipped"},
            },
        },
    },
    "operations": {
        "onCustomer": {"action": "receive", "channel": {"$ref": "#/channels/customers"}},
    },
}


def asyncapi_30_json() -> str:
    components = yaml.safe_load(ASYNCAPI_26)["components"]
    return json.dumps({**ASYNCAPI_30, "components": components})


@pytest.mark.parametrize("version", ["2.6", "3.0"])
def test_asyncapi_documents(tmp_path: Path, version: str) -> None:
    doc = tmp_path / ("events.yaml" if version == "2.6" else "events.json")
    doc.write_text(ASYNCAPI_26 if version == "2.6" else asyncapi_30_json())
    run = outrigger("survey", "--asyncapi", str(doc), "--json", "--out", str(tmp_path / "r"))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    types = by_type(report)
    customer = types["com.acme.crm.CustomerRegistered"]
    assert customer["labels"] == ["sensitive"]
    assert set(customer["sensitive_fields"]) == {
        "customer.full_name", "customer.email", "customer.date_of_birth", "accounts[*].iban",
    }  # fmt: skip
    assert customer["keys"] == ["crm.customer.registered"]
    assert customer["count"] == 0 and customer["rate_per_s"] is None
    presence = {f["path"]: f["presence_pct"] for f in customer["fields"]}
    assert presence["customer.email"] == 100.0 and presence["customer.full_name"] is None
    assert types["com.acme.support.ComplaintFiled"]["labels"] == ["ai-candidate"]
    assert types["com.acme.orders.OrderShipped"]["labels"] == ["low-value"]
    check = outrigger(
        "config", "check", str(tmp_path / "r" / "survey-pipelines.yaml"),
        env={"OUTRIGGER_CONFIG_FILE": str(tmp_path / "r" / "survey-settings.yaml")},
    )  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_not_an_asyncapi_document_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "x.yaml"
    doc.write_text("openapi: 3.1.0\n")
    run = outrigger("survey", "--asyncapi", str(doc))
    assert run.returncode == 2
    assert "not an AsyncAPI 2.x or 3.0 document" in run.stderr


def test_full_pii_mode_without_the_extra_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*_: object, **__: object) -> None:
        raise MissingExtraError("'presidio_analyzer' is not installed; install it with: "
                                "pip install 'outrigger[privacy]'")  # fmt: skip

    monkeypatch.setattr("outrigger.cli.survey_cmd.open_detector", missing)
    capture = tmp_path / "c.jsonl"
    capture.write_text("")
    result = CliRunner().invoke(app, ["survey", "--jsonl", str(capture), "--pii-mode", "full"])
    assert result.exit_code == 2
    assert "pip install 'outrigger[privacy]'" in " ".join(result.output.split())
