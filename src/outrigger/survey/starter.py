"""Starter configuration from a survey: a pipelines file with a pipeline per sensitive or
candidate event type (its AI steps commented out, ready to fill in), and the sanitise rules
for the sensitive fields. The rules belong to the settings (``privacy.events``, applied by the
worker before any pipeline step), not to the pipelines file, so they go to a settings file of
their own; ``outrigger config check`` accepts both (``OUTRIGGER_CONFIG_FILE`` for the second).

Strings are written as JSON strings, which YAML reads as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from outrigger.config.fields import valid_path as valid_mapping_path
from outrigger.privacy.paths import valid_path as valid_rule_path
from outrigger.survey.classify import judge
from outrigger.survey.model import Survey, TypeSurvey
from outrigger.survey.report import labels_text

PIPELINES_FILE = "survey-pipelines.yaml"
SETTINGS_FILE = "survey-settings.yaml"


def q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def pipeline_name(event_type: str, taken: set[str]) -> str:
    leaf = event_type.rsplit(".", 1)[-1] or event_type
    kebab = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", leaf).lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", kebab).strip("-._") or "events"
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}-{n}", n + 1
    taken.add(unique)
    return unique


def chosen(survey: Survey) -> list[TypeSurvey]:
    """The types that get a pipeline: sensitive or candidate ones; if there are none, the
    most frequent type, so that the file is a valid start."""
    picked = [
        t
        for t in survey.ordered()
        if t.classification and "low-value" not in t.classification.labels
    ]
    return picked or survey.ordered()[:1]


def pipelines_yaml(survey: Survey) -> str:
    lines = [
        "# Starter pipelines from `outrigger survey`: one pipeline per sensitive or AI-candidate",
        "# event type. Each publishes a result that only says the event was seen until you",
        "# uncomment and complete its steps (docs/pipelines.md). Check it with:",
        f"#   OUTRIGGER_CONFIG_FILE={SETTINGS_FILE} outrigger config check {PIPELINES_FILE}",
        "# The sanitise rules for the sensitive fields are settings (privacy.events), not part",
        f"# of this file: they are in {SETTINGS_FILE}; the worker applies them to every event",
        "# before any step below runs.",
    ]
    picked = chosen(survey)
    low = [t.type for t in survey.ordered() if all(t is not p for p in picked)]
    if low:
        lines.append("# Low value, no pipeline: " + ", ".join(low))
    lines += ["pipelines:"]
    taken: set[str] = set()
    for t in picked:
        lines += list(_pipeline(survey, t, pipeline_name(t.type, taken)))
    return "\n".join(lines) + "\n"


def _pipeline(survey: Survey, t: TypeSurvey, name: str) -> Iterator[str]:
    yield f"  # {t.type}: {labels_text(t)}"
    for reason in t.classification.reasons if t.classification else ():
        yield f"  #   {reason}"
    yield f"  - name: {q(name)}"
    yield "    version: 1"
    yield "    on:"
    yield f"      types: [{q(t.type)}]"
    keys = sorted(t.keys) if survey.input == "bus" else []
    if keys:
        yield f"      routing_keys: [{', '.join(q(k) for k in keys)}]"
    if t.plain_type_field:
        yield f"    plain: {{type_field: {q(t.plain_type_field)}}}"
    yield "    steps:"
    yield from _candidate_steps(t)
    yield "      - publish:"
    yield f"          type: {q(t.type + '.AiResult')}"
    yield f"          routing_key: {q('ai.' + name)}"
    yield f"          source: {q('urn:outrigger:' + name)}"


def _candidate_steps(t: TypeSurvey) -> Iterator[str]:
    c = t.classification
    if c is None:
        return
    texts = [p for p in c.text_fields if valid_mapping_path(f"data.{p}")]
    if texts:
        yield "      # - llm:"
        yield "      #     name: summary"
        yield "      #     model: chat-default"
        yield '      #     system: "Summarise the text in one sentence and name its topic."'
        yield "      #     inputs:"
        for path in texts:
            yield f"      #       {path.replace('.', '_')}: data.{path}"
    numbers = [p for p in c.numeric_fields if valid_mapping_path(f"data.{p}")]
    if len(numbers) >= 2:
        yield "      # - score:                       # declare the model under models:"
        yield "      #     name: score"
        yield "      #     model: your-model"
        yield "      #     inputs:"
        for path in numbers:
            yield f"      #       {path.replace('.', '_')}: {{path: data.{path}}}"


def settings_yaml(survey: Survey) -> str:
    lines = [
        "# Sanitise rules from `outrigger survey` for the sensitive fields it found. These are",
        "# settings (privacy.events; docs/privacy.md, 'Event sanitisation'), not pipelines: use",
        "# this file as OUTRIGGER_CONFIG_FILE, or merge it into yours. Review every rule:",
        "# drop removes the field, mask keeps the last 4 characters, pseudonymize replaces it",
        "# with a placeholder (restorable with the vault key); hash (with a salt_file) keeps",
        "# equal values joinable. text_fields are free text scanned by the detector.",
        "privacy:",
        "  events_mode: fast",
        "  events:",
        "    events:",
    ]
    rules = [(t, list(_rules(t))) for t in survey.ordered()]
    rules = [(t, r) for t, r in rules if r]
    if not rules:
        lines[-1] = "    events: {}   # no sensitive fields found"
    for t, body in rules:
        lines.append(f"      {q(t.type)}:")
        lines += body
    return "\n".join(lines) + "\n"


def _rules(t: TypeSurvey) -> Iterator[str]:
    c = t.classification
    if c is None or not c.sensitive_fields:
        return
    fields, texts = [], []
    for path in c.sensitive_fields:
        verdict = judge(t.fields[path])
        if not valid_rule_path(path) or verdict.hint is None:
            continue
        if verdict.kind == "text":
            texts.append(path)
            continue
        hint = verdict.hint
        rule = f"{{path: {q(path)}, action: {hint.action}"
        rule += f", entity: {hint.entity}" if hint.action == "pseudonymize" else ""
        rule += ", keep_last: 4" if hint.action == "mask" else ""
        fields.append(f"          - {rule}}}   # {verdict.why}")
    if fields:
        yield "        fields:"
        yield from fields
    if texts:
        yield f"        text_fields: [{', '.join(q(p) for p in texts)}]"
