"""Metrics: the worker counts what it does, and the Grafana dashboard only queries series we
really export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from outrigger.telemetry.metrics import OTHER_FEATURE, FeatureLabels, Metrics

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "outrigger.json"


def test_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\b(outrigger_[a-z_]+)\b", e)}
    assert used, "the dashboard queries no outrigger metric"
    assert used <= Metrics().names(), f"not exported: {sorted(used - Metrics().names())}"


def test_every_exported_family_is_on_the_dashboard() -> None:
    text = DASHBOARD.read_text()
    families = {
        n.removesuffix("_total").removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        for n in Metrics().names()
    }
    assert {f for f in families if f not in text} == set()


def test_model_info_keeps_only_the_current_version() -> None:
    metrics = Metrics()
    metrics.set_model("credit-risk", "1.0.0")
    metrics.set_model("credit-risk", "1.1.0")
    exposition = metrics.exposition().decode()
    assert 'outrigger_model_info{model="credit-risk",version="1.1.0"} 1.0' in exposition
    assert 'version="1.0.0"' not in exposition


def test_json_log_lines_carry_the_trace_id(capsys: object) -> None:
    import json as _json
    import logging

    from opentelemetry.sdk.trace import TracerProvider

    from outrigger.cli.common import configure_logging

    configure_logging("INFO", "json")
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("outrigger.test").info("inside a span")
    logging.getLogger("outrigger.test").info("outside")
    lines = [_json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]  # type: ignore[attr-defined]
    inside = next(x for x in lines if x["message"] == "inside a span")
    assert inside["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert inside["level"] == "INFO" and inside["logger"] == "outrigger.test"
    assert next(x for x in lines if x["message"] == "outside")["trace_id"] == ""
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])


def test_feature_labels_keep_configured_features_and_bound_the_rest() -> None:
    labels = FeatureLabels(known={"claims"}, cap=2)
    assert [labels(f) for f in ("a", "b", "a", "c", "claims", "b", "d")] == [
        "a", "b", "a", OTHER_FEATURE, "claims", "b", OTHER_FEATURE,
    ]  # fmt: skip
    metrics = Metrics(FeatureLabels(cap=0))
    metrics.llm_call("chat-default", "primary", "anything", "ok", "miss").count(0.1, 1, 1, 0.0)
    assert f'feature="{OTHER_FEATURE}"' in metrics.exposition().decode()
    assert 'feature="anything"' not in metrics.exposition().decode()
