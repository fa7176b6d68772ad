"""``outrigger survey``: sample the event surface (the bus, an AsyncAPI document or a JSON
Lines capture), infer each event type's schema, find PII per field, and classify each type
as sensitive, AI candidate or low value; render the report and a starter configuration.

``sources`` and ``asyncapi`` read the inputs, ``schema`` infers fields, ``names`` and
``classify`` judge them, ``report`` and ``starter`` write the outputs. No payload value is
kept past the moment it is looked at.
"""

from outrigger.survey.asyncapi import load_document, survey_document
from outrigger.survey.classify import classify, classify_all
from outrigger.survey.model import Classification, FieldStats, Survey, TypeSurvey
from outrigger.survey.report import as_json, html_page, markdown
from outrigger.survey.schema import SchemaInference
from outrigger.survey.sources import Collector, read_jsonl, sample_bus, sample_subscription
from outrigger.survey.starter import PIPELINES_FILE, SETTINGS_FILE, pipelines_yaml, settings_yaml

__all__ = [
    "PIPELINES_FILE",
    "SETTINGS_FILE",
    "Classification",
    "Collector",
    "FieldStats",
    "SchemaInference",
    "Survey",
    "TypeSurvey",
    "as_json",
    "classify",
    "classify_all",
    "html_page",
    "load_document",
    "markdown",
    "pipelines_yaml",
    "read_jsonl",
    "sample_bus",
    "sample_subscription",
    "settings_yaml",
    "survey_document",
]
