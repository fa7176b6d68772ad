from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from outrigger.config.load import ConfigProblems, default_pipelines_file, parse_pipelines
from outrigger.config.settings import Settings
from outrigger.errors import ConfigError


def demo_yaml() -> dict:
    return yaml.safe_load(default_pipelines_file().read_text())


def problems(doc: dict | str) -> list[str]:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
    with pytest.raises(ConfigProblems) as info:
        parse_pipelines(text, "test.yaml")
    return info.value.problems


def test_bundled_demo_file_is_valid() -> None:
    spec = parse_pipelines(default_pipelines_file().read_text(), "demo")
    assert spec.pipelines[0].name == "credit-risk-assessment"


def test_unknown_unit_names_its_key_path() -> None:
    doc = demo_yaml()
    doc["pipelines"][0]["steps"][0]["score"]["inputs"]["amount"]["unit"] = "cents->parsecs"
    (problem,) = problems(doc)
    assert problem.startswith("pipelines[0].steps[0].score.inputs.amount.unit:")
    assert "unknown unit 'cents->parsecs'" in problem


def test_typo_in_key_is_reported_with_path() -> None:
    doc = demo_yaml()
    doc["pipelines"][0]["steps"][1]["publish"]["routing_kye"] = "x"
    assert any(p.startswith("pipelines[0].steps[1].publish.routing_kye:") for p in problems(doc))


def test_several_problems_at_once() -> None:
    doc = demo_yaml()
    doc["pipelines"][0]["name"] = "Bad Name"
    doc["pipelines"][0]["steps"][0]["score"]["inputs"]["age"]["path"] = "data..age"
    found = problems(doc)
    assert any(p.startswith("pipelines[0].name:") for p in found)
    assert any(p.startswith("pipelines[0].steps[0].score.inputs.age.path:") for p in found)


def test_publish_must_be_last_and_unique() -> None:
    doc = demo_yaml()
    steps = doc["pipelines"][0]["steps"]
    steps.reverse()
    assert any("exactly one publish step" in p for p in problems(doc))


def test_an_llm_fallback_is_for_text_answers_only() -> None:
    doc = demo_yaml()
    (summary,) = [p for p in doc["pipelines"] if p["name"] == "support-ticket-summary"]
    llm = summary["steps"][0]["llm"]
    assert llm["fallback"]  # the demo says plainly when the model could not summarise
    llm["schema"] = {"type": "object"}
    assert any("fallback is for text answers" in p for p in problems(doc))


def test_undeclared_model_and_bad_schema() -> None:
    doc = demo_yaml()
    doc["pipelines"][0]["steps"][0]["score"]["model"] = "fraud"
    assert any("model 'fraud'" in p for p in problems(doc))
    doc = demo_yaml()
    doc["pipelines"][0]["steps"][1]["publish"]["schema"] = {"type": "no-such-type"}
    assert any(p.startswith("pipelines[0].steps[1].publish.schema:") for p in problems(doc))


def test_label_rules_must_increase() -> None:
    doc = demo_yaml()
    doc["pipelines"][0]["steps"][0]["score"]["labels"] = [
        {"below": 0.5, "label": "a"},
        {"below": 0.2, "label": "b"},
    ]
    assert any("increasing order" in p for p in problems(doc))


def test_yaml_syntax_error_has_line_and_column() -> None:
    (problem,) = problems("pipelines:\n  - name: x\n   bad: [\n")
    assert problem.startswith("(yaml) line ")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OUTRIGGER_BUS__KIND", "rabbitmq")
    monkeypatch.setenv("OUTRIGGER_BUS__RABBITMQ__QUEUE_TYPE", "quorum")
    monkeypatch.setenv("OUTRIGGER_WORKER__PREFETCH", "7")
    monkeypatch.setenv("OUTRIGGER_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.bus.kind == "rabbitmq"
    assert settings.bus.rabbitmq.queue_type == "quorum"
    assert settings.worker.prefetch == 7
    assert settings.storage_url() == f"sqlite:///{tmp_path / 'outrigger.sqlite3'}"


def test_rabbit_url_from_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "url"
    secret.write_text("amqp://u:p@broker:5672/\n")
    monkeypatch.setenv("OUTRIGGER_BUS__RABBITMQ__URL_FILE", str(secret))
    assert Settings().bus.rabbitmq.resolved_url() == "amqp://u:p@broker:5672/"
    assert "u:p" not in repr(Settings().bus.rabbitmq)


@pytest.mark.parametrize(
    ("variables", "read", "setting"),
    [
        ({"BUS__RABBITMQ__URL_FILE": ""}, lambda s: s.bus.rabbitmq.resolved_url(), "bus.rabbitmq.url"),
        ({"BUS__REDIS__URL_FILE": ""}, lambda s: s.bus.redis.resolved_url(), "bus.redis.url"),
        ({"BUS__NATS__URL_FILE": ""}, lambda s: s.bus.nats.resolved_url(), "bus.nats.url"),
        ({"STORAGE__URL_FILE": ""}, lambda s: s.storage_url(), "storage.url"),
        ({"VECTORS__URL_FILE": ""}, lambda s: s.vectors.resolved_url(), "vectors.url"),
        ({"BUS__KAFKA__SASL_MECHANISM": "PLAIN", "BUS__KAFKA__SASL_PASSWORD_FILE": ""},
         lambda s: s.bus.kafka.client_config(), "bus.kafka.sasl_password"),
        ({"BUS__KAFKA__SSL_KEY_PASSWORD_FILE": ""},
         lambda s: s.bus.kafka.client_config(), "bus.kafka.ssl_key_password"),
    ],
    ids=["rabbitmq", "redis", "nats", "storage", "vectors", "kafka-sasl", "kafka-ssl"],
)  # fmt: skip
def test_an_unreadable_secret_file_is_a_config_error_naming_its_setting(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variables: dict[str, str],
    read: Callable[[Settings], object],
    setting: str,
) -> None:
    missing = tmp_path / "not-mounted"
    for name, value in variables.items():  # an empty value: the missing secret file
        monkeypatch.setenv(f"OUTRIGGER_{name}", value or str(missing))
    with pytest.raises(ConfigError, match=rf"^{setting}_file: cannot read .*not-mounted"):
        read(Settings())


def test_invalid_settings_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTRIGGER_WORKER__PREFETCH", "0")
    with pytest.raises(ValueError, match="prefetch"):
        Settings()


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_data_dir_is_refused_not_read_as_the_current_directory(
    monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    monkeypatch.setenv("OUTRIGGER_DATA_DIR", blank)
    with pytest.raises(ValueError, match=r"data_dir\n.*is empty: unset it for the default"):
        Settings()
    monkeypatch.setenv("OUTRIGGER_DATA_DIR", ".")  # the current directory, when said so
    assert Settings().data_dir == Path(".")


def test_event_sanitiser_is_built_only_when_event_fields_are_declared(tmp_path: Path) -> None:
    from outrigger.config.settings import Settings
    from outrigger.privacy import EventSanitizer
    from outrigger.runtime import event_sanitizer

    assert event_sanitizer(Settings(data_dir=tmp_path)) is None
    declared = Settings.model_validate(
        {
            "data_dir": tmp_path,
            "privacy": {"events": {"events": {"com.acme.X": {"text_fields": ["notes"]}}}},
        }
    )
    built = event_sanitizer(declared)
    assert isinstance(built, EventSanitizer)
    assert built.sanitize("com.acme.X", {"notes": "mail a@b.co"}).payload == {
        "notes": "mail <EMAIL_1>"
    }
