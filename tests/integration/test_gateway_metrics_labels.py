"""No tenant can grow the gateway's Prometheus series at will through
``X-Outrigger-Feature``: beyond ``telemetry.max_feature_labels`` unconfigured features, new
ones are counted under ``_other``; configured features always keep their label, and the
ledger keeps every real feature."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from outrigger.telemetry.metrics import DEFAULT_MAX_FEATURE_LABELS, OTHER_FEATURE
from tests.integration.test_gateway_llm import new_key, start_gateway
from tests.upstream import UpstreamThread

FEATURE_SERIES = ("outrigger_llm_requests", "outrigger_llm_cost_usd")


def feature_labels(exposition: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {name: set() for name in FEATURE_SERIES}
    for family in text_string_to_metric_families(exposition):
        if family.name in found:
            found[family.name] |= {s.labels["feature"] for s in family.samples}
    return found


def test_feature_labels_are_bounded_per_process(data_dir: Path, upstream: UpstreamThread) -> None:
    tenancy = {"features": {"claims": {"rpm": 10_000}}}  # a feature the configuration names
    server = start_gateway(data_dir, {"primary": upstream}, tenancy=tenancy)
    try:
        key = new_key(server)
        body = {"model": "chat-default", "messages": [{"role": "user", "content": "hi"}]}
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=auth, timeout=30) as http:
            for i in range(300):
                headers = {"X-Outrigger-Feature": f"attack-{i}"}
                response = http.post("/v1/chat/completions", json=body, headers=headers)
                assert response.status_code == 200, response.text
            claims = {"X-Outrigger-Feature": "claims"}
            assert http.post("/v1/chat/completions", json=body, headers=claims).is_success
            labels = feature_labels(http.get("/metrics").text)
            usage = http.get("/v1/usage").json()
        for name in FEATURE_SERIES:
            assert "claims" in labels[name]
            assert OTHER_FEATURE in labels[name]
            attacks = labels[name] - {"claims"}
            assert len(attacks) == DEFAULT_MAX_FEATURE_LABELS + 1, name  # the cap, and _other
        assert len(usage["data"]) == 301  # the ledger keeps every real feature
    finally:
        server.stop()
