"""The chart rendered for each bus kind, and the bus settings its worker pod really gets.

``BROKER_VALUES`` holds, per kind, the values an operator sets for that broker (deliberately
not the defaults: a prefix, non-default names, SASL, FIFO), so a template that hard-codes a
default name cannot pass. ``worker_bus_settings`` loads the rendered worker environment with
the app's own ``Settings``: the names the tests expect are then computed by the bus code from
exactly what the pod would run with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from outrigger.bus.settings import BusSettings
from outrigger.config.settings import Settings
from tests.deploy.conftest import render_profile
from tests.deploy.render import Rendered, deep_merge

IN_PROCESS = ("sqlite", "memory")
BROKERS = ("rabbitmq", "kafka", "nats", "redis", "sqs")
DEFAULT_PORTS = {"rabbitmq": 5672, "kafka": 9092, "nats": 4222, "redis": 6379, "sqs": 443}
# Names with dots and dashes: each broker rewrites them its own way.
BUS_NAMES = {"exchange": "acme.loans", "queue": "outrigger.credit-risk"}
SQS_REGION = "eu-west-1"
SQS_HOST = f"sqs.{SQS_REGION}.amazonaws.com"
SQS_CIDR = "192.0.2.0/24"

BROKER_VALUES: dict[str, dict[str, Any]] = {
    "rabbitmq": {},
    "kafka": {
        "config": {
            "bus": {
                "kafka": {
                    "bootstrapServers": "kafka-0.kafka.messaging.svc:9092,kafka-1.kafka.messaging.svc:9092",
                    "groupPrefix": "ai-",
                    "securityProtocol": "SASL_SSL",
                    "saslMechanism": "SCRAM-SHA-512",
                    "saslUsername": "outrigger",
                }
            }
        },
        "secrets": {"kafka": {"secretName": "outrigger-kafka", "key": "password"}},
    },
    "nats": {
        "secrets": {"nats": {"secretName": "outrigger-nats"}},
        "keda": {"nats": {"monitoringEndpoint": "nats.messaging.svc.cluster.local:8222"}},
    },
    "redis": {
        "secrets": {"redisBus": {"secretName": "outrigger-redis-bus"}},
        "keda": {"redis": {"address": "redis.messaging.svc:6379", "passwordKey": "password"}},
    },
    "sqs": {
        "config": {"bus": {"sqs": {"region": SQS_REGION, "queuePrefix": "prod_", "fifo": True}}},
        "keda": {"sqs": {"accountId": "123456789012"}},
        "networkPolicy": {"broker": {"cidrs": [SQS_CIDR]}},
    },
}


def bus_values(kind: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """User values selecting ``kind`` with that broker's settings (plus ``extra``)."""
    base = deep_merge(BROKER_VALUES.get(kind, {}), {"config": {"bus": {"kind": kind, **BUS_NAMES}}})
    return deep_merge(base, extra or {})


def render_bus(helm: Any, kind: str, extra: dict[str, Any] | None = None) -> Rendered:
    """The default profile on the ``kind`` bus, KEDA on unless ``extra`` turns it off."""
    return render_profile(
        helm, "default", bus_values(kind, deep_merge({"keda": {"enabled": True}}, extra or {}))
    )


def worker_env(rendered: Rendered) -> dict[str, str]:
    spec = rendered.component("Deployment", "worker")["spec"]["template"]["spec"]
    worker = next(c for c in spec["containers"] if c["name"] == "worker")
    return {e["name"]: e["value"] for e in worker["env"]}


def worker_bus_settings(
    rendered: Rendered, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> BusSettings:
    """The app's ``BusSettings`` from the worker's rendered ``OUTRIGGER_BUS__*`` variables
    (secret files replaced by local ones), read as the worker reads them."""
    for name in [n for n in os.environ if n.startswith("OUTRIGGER_")]:
        monkeypatch.delenv(name)
    for name, value in worker_env(rendered).items():
        if not name.startswith("OUTRIGGER_BUS__"):
            continue
        if name.endswith("_FILE"):
            path = tmp_path / name.lower()
            path.write_text("secret://from-a-file\n", encoding="utf-8")
            monkeypatch.setenv(name, str(path))
        else:
            monkeypatch.setenv(name, value)
    return Settings().bus
