"""The Helm chart, rendered by the real Helm engine: structure, hardening, secrets, scaling."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import typing
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from outrigger.bus.base import Subscription
from outrigger.bus.kafka.bus import KafkaBus
from outrigger.bus.kafka.naming import subscription_topics
from outrigger.bus.nats.naming import entity_name
from outrigger.bus.redis.bus import RedisBus
from outrigger.bus.sqs.bus import SqsBus
from outrigger.cli.gateway_cmd import gateway_command
from outrigger.config.settings import CONFIG_FILE_VAR, Settings
from tests.deploy.brokers import (
    BROKER_VALUES,
    BROKERS,
    BUS_NAMES,
    IN_PROCESS,
    SQS_HOST,
    SQS_REGION,
    render_bus,
    worker_bus_settings,
    worker_env,
)
from tests.deploy.conftest import PROFILES, render_profile
from tests.deploy.render import CHART, RELEASE, Rendered, containers, user_values

EXPECTED_KINDS = {
    "default": {"CiliumNetworkPolicy": 2, "HorizontalPodAutoscaler": 2},
    "compliance": {"CiliumNetworkPolicy": 2, "NetworkPolicy": 2, "HorizontalPodAutoscaler": 2},
    "kubernetes": {"NetworkPolicy": 2, "HorizontalPodAutoscaler": 2},
    "keda": {
        "CiliumNetworkPolicy": 2,
        "HorizontalPodAutoscaler": 1,
        "ScaledObject": 1,
        "TriggerAuthentication": 1,
    },
}
ALWAYS = {
    "ServiceAccount": 1,
    "ConfigMap": 1,
    "Deployment": 2,
    "Service": 2,
    "PodDisruptionBudget": 2,
}
# Files that are configuration, not secrets (both from the chart's ConfigMap).
CONFIG_FILES = {"OUTRIGGER_PIPELINES_FILE", CONFIG_FILE_VAR}
SECRETISH = ("KEY", "SECRET", "PASSWORD", "TOKEN", "URL", "CREDENTIAL")


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def main_container(rendered: Rendered, component: str) -> dict[str, Any]:
    spec = pod_spec(rendered.component("Deployment", component))
    return next(c for c in spec["containers"] if c["name"] == component)


def lint_problems(helm: Any, supplied: dict[str, Any]) -> list[dict[str, Any]]:
    report = helm.lint(str(CHART), supplied, strict=True, kube_version="v1.29.0")
    return [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]


@pytest.mark.parametrize("name", ["default", "compliance"])
def test_helm_lint_is_clean(helm: Any, name: str) -> None:
    profile = PROFILES[name]
    assert lint_problems(helm, user_values(*profile.files, overrides=profile.overrides)) == []


def test_helm_lint_reports_bad_values(helm: Any) -> None:
    assert lint_problems(helm, {"networkPolicy": {"flavor": "calico"}})


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_each_profile_renders_exactly_its_objects(name: str, rendered: dict[str, Rendered]) -> None:
    kinds = Counter(obj["kind"] for obj in rendered[name].objects)
    assert kinds == Counter(ALWAYS | EXPECTED_KINDS[name])


def test_pods_are_locked_down(profile: Rendered) -> None:
    for deployment in profile.of_kind("Deployment"):
        spec = pod_spec(deployment)
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0 and pod["fsGroup"] > 0
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in containers(deployment):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["privileged"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_writable_paths_are_emptydirs(profile: Rendered) -> None:
    data_dir = profile.values["config"]["dataDir"]
    for deployment in profile.of_kind("Deployment"):
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        for container in containers(deployment):
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            for path in ("/tmp", data_dir):
                assert "emptyDir" in volumes[mounts[path]["name"]], path
            writable = [m for m in mounts.values() if not m.get("readOnly")]
            assert all("emptyDir" in volumes[m["name"]] for m in writable)


def test_service_account_mounts_no_token(profile: Rendered) -> None:
    (account,) = profile.of_kind("ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    for deployment in profile.of_kind("Deployment"):
        assert pod_spec(deployment)["serviceAccountName"] == account["metadata"]["name"]


def projected_files(deployment: dict[str, Any], mount_path: str) -> set[str]:
    """Absolute paths of the files the projected secrets volume puts in the container."""
    volumes = [v for v in pod_spec(deployment)["volumes"] if "projected" in v]
    return {
        f"{mount_path}/{item['path']}"
        for volume in volumes
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }


def secret_files(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.endswith("_FILE") and k not in CONFIG_FILES}


def test_secrets_are_mounted_files_never_env_values(profile: Rendered) -> None:
    mount_path = profile.values["secrets"]["mountPath"]
    for deployment in profile.of_kind("Deployment"):
        files = projected_files(deployment, mount_path)
        for container in containers(deployment):
            assert "envFrom" not in container
            assert all("valueFrom" not in e for e in container["env"]), container["name"]
            env = env_of(container)
            file_settings = {v for k, v in secret_files(env).items()}
            assert file_settings == files, "every secret file has its *_FILE setting"
            plain = [k for k in env if not k.endswith("_FILE")]
            leaked = [k for k in plain if any(w in k.split("__")[-1] for w in SECRETISH)]
            assert leaked == [], f"secret-looking settings as plain values: {leaked}"


def test_each_component_gets_only_its_secrets(rendered: dict[str, Rendered]) -> None:
    compliance = rendered["compliance"]
    root = "/var/run/secrets/outrigger"
    key = f"{root}/providers/azure-openai/api-key"
    common = {
        "OUTRIGGER_STORAGE__URL_FILE": f"{root}/storage/url",
        "OUTRIGGER_LLM__PROVIDERS__AZURE-OPENAI__API_KEY_FILE": key,
    }
    worker = env_of(main_container(compliance, "worker"))
    assert secret_files(worker) == common | {
        "OUTRIGGER_BUS__RABBITMQ__URL_FILE": f"{root}/rabbitmq/url"
    }
    gateway = env_of(main_container(compliance, "gateway"))
    assert secret_files(gateway) == common | {
        "OUTRIGGER_TENANCY__REDIS_URL_FILE": f"{root}/redis/url",
        "OUTRIGGER_GATEWAY__TLS_CERT_FILE": f"{root}/gateway-tls/tls.crt",
        "OUTRIGGER_GATEWAY__TLS_KEY_FILE": f"{root}/gateway-tls/tls.key",
    }
    assert not any(k.startswith("OUTRIGGER_BUS__") for k in gateway)
    assert "OUTRIGGER_GATEWAY__TLS_KEY_PASSWORD_FILE" not in gateway


def test_an_encrypted_gateway_key_gets_its_passphrase_file(helm: Any) -> None:
    profile = render_profile(
        helm, "compliance", {"secrets": {"gatewayTls": {"passwordKey": "passphrase"}}}
    )
    root = profile.values["secrets"]["mountPath"]
    expected = f"{root}/gateway-tls/tls.key.password"
    assert (
        env_of(main_container(profile, "gateway"))["OUTRIGGER_GATEWAY__TLS_KEY_PASSWORD_FILE"]
        == expected
    )
    files = set().union(*(projected_files(d, root) for d in profile.of_kind("Deployment")))
    assert expected in files


def test_commands_and_probes(profile: Rendered) -> None:
    gateway = main_container(profile, "gateway")
    assert gateway["command"] == ["outrigger"]
    assert gateway["args"] == ["gateway", "--host", "0.0.0.0", "--port", "8080"]
    assert gateway["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    # The compliance profile serves HTTPS only: the probes speak it too.
    regulated = profile.values["compliance"]["enabled"]
    scheme = "HTTPS" if regulated else "HTTP"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert gateway[probe]["httpGet"] == {"path": path, "port": "http", "scheme": scheme}
    tls = env_of(gateway).get("OUTRIGGER_GATEWAY__REQUIRE_TLS")
    assert tls == ("true" if regulated else None)
    worker = main_container(profile, "worker")
    assert worker["args"] == ["run"]
    assert worker["ports"][0]["containerPort"] == 9464
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert worker[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert env_of(worker)["OUTRIGGER_TELEMETRY__METRICS_PORT"] == "9464"


def test_gateway_args_are_options_of_the_cli() -> None:
    options = {f"--{name}" for name in inspect.signature(gateway_command).parameters}
    assert {"--host", "--port"} <= options


def test_worker_outlives_its_drain_timeout(profile: Rendered) -> None:
    worker = profile.component("Deployment", "worker")
    drain = float(env_of(main_container(profile, "worker"))["OUTRIGGER_WORKER__DRAIN_TIMEOUT_S"])
    assert pod_spec(worker)["terminationGracePeriodSeconds"] > drain


def test_pipelines_and_settings_come_from_the_configmap(profile: Rendered) -> None:
    (configmap,) = profile.of_kind("ConfigMap")
    files = {"OUTRIGGER_PIPELINES_FILE": "pipelines.yaml", CONFIG_FILE_VAR: "outrigger.yaml"}
    assert set(configmap["data"]) == set(files.values())
    for deployment in profile.of_kind("Deployment"):
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        assert volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
        for container in containers(deployment):
            mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
            assert mount["readOnly"]
            for variable, key in files.items():
                assert env_of(container)[variable] == f"{mount['mountPath']}/{key}"


def test_own_pipelines_roll_the_pods(helm: Any, rendered: dict[str, Rendered]) -> None:
    custom = render_profile(helm, "default", {"pipelines": "pipelines: []\n"})
    assert custom.of_kind("ConfigMap")[0]["data"]["pipelines.yaml"] == "pipelines: []\n"

    def checksum(r: Rendered) -> str:
        template = r.component("Deployment", "worker")["spec"]["template"]
        return template["metadata"]["annotations"]["checksum/config"]

    assert checksum(custom) != checksum(rendered["default"])


def test_model_pins_are_env_settings(helm: Any) -> None:
    pins = {"models": {"credit-risk": "1.0.0", "fraud.v2": "stable"}}
    env = env_of(main_container(render_profile(helm, "default", pins), "worker"))
    assert env["OUTRIGGER_MODELS__CREDIT_RISK"] == "1.0.0"
    assert env["OUTRIGGER_MODELS__FRAUD_V2"] == "stable"


def test_cpu_autoscaling_without_keda(rendered: dict[str, Rendered]) -> None:
    default = rendered["default"]
    for component in ("gateway", "worker"):
        hpa = default.component("HorizontalPodAutoscaler", component)
        target = hpa["spec"]["scaleTargetRef"]
        assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": target["name"]}
        assert default.component("Deployment", component)["metadata"]["name"] == target["name"]
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert "replicas" not in default.component("Deployment", component)["spec"]


def test_keda_scales_the_worker_on_its_queue(rendered: dict[str, Rendered]) -> None:
    keda = rendered["keda"]
    (scaled,) = keda.of_kind("ScaledObject")
    worker = keda.component("Deployment", "worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["mode"] == "QueueLength"
    queue = env_of(main_container(keda, "worker"))["OUTRIGGER_BUS__QUEUE"]
    assert trigger["metadata"]["queueName"] == queue
    (auth,) = keda.of_kind("TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    secret = keda.values["secrets"]["rabbitmq"]
    ref = {"parameter": "host", "name": secret["secretName"], "key": secret["key"]}
    assert auth["spec"]["secretTargetRef"] == [ref]
    hpa_targets = [
        h["spec"]["scaleTargetRef"]["name"] for h in keda.of_kind("HorizontalPodAutoscaler")
    ]
    assert worker["metadata"]["name"] not in hpa_targets


def test_disruption_budgets_cover_their_pods(profile: Rendered) -> None:
    for component in ("gateway", "worker"):
        pdb = profile.component("PodDisruptionBudget", component)
        labels = profile.component("Deployment", component)["spec"]["template"]["metadata"]
        wanted = pdb["spec"]["selector"]["matchLabels"]
        assert wanted.items() <= labels["labels"].items()
    gateway_pdb = profile.component("PodDisruptionBudget", "gateway")["spec"]
    floor = profile.values["gateway"]["autoscaling"]["minReplicas"]
    assert gateway_pdb["minAvailable"] < floor, "a budget equal to the floor blocks every drain"


# --- the chart and the app agree -----------------------------------------------------------------


def settings_knows(name: str) -> bool:
    """Whether ``OUTRIGGER_A__B__C`` names a field of the app's Settings tree (a dict of
    sections, like ``llm.providers``, takes any key at its level)."""
    if name == CONFIG_FILE_VAR:
        return True
    parts = name.removeprefix("OUTRIGGER_").lower().split("__")
    model: type[BaseModel] = Settings
    index = 0
    while index < len(parts) and parts[index] in model.model_fields:
        annotation = model.model_fields[parts[index]].annotation
        if typing.get_origin(annotation) is dict:
            value_type = typing.get_args(annotation)[1]
            index += 1  # the dict's key
            if not (isinstance(value_type, type) and issubclass(value_type, BaseModel)):
                return index + 1 == len(parts)
            annotation = value_type
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return index + 1 == len(parts)
        model, index = annotation, index + 1
    return False


def test_the_app_reads_every_setting_the_chart_sets(profile: Rendered) -> None:
    names = {n for d in profile.of_kind("Deployment") for c in containers(d) for n in env_of(c)}
    assert {n for n in names if not settings_knows(n)} == set(), "the app has no such setting"


@pytest.mark.parametrize(
    "name", ["OUTRIGGER_BUS__RABBITMQ__URL_FILES", "OUTRIGGER_LLM__PROVIDERS__X__KEY_FILE"]
)
def test_settings_check_knows_a_typo(name: str) -> None:
    assert not settings_knows(name)


@pytest.mark.parametrize("component", ["gateway", "worker"])
@pytest.mark.parametrize("name", ["default", "compliance"])
def test_config_check_passes_with_the_pods_settings(
    name: str, component: str, rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    """What the config-check init container runs, with the rendered env and ConfigMap."""
    profile = rendered[name]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    container = main_container(profile, component)
    env |= env_of(container)
    for key in secret_files(env):
        env[key] = str(tmp_path / key.lower())
        Path(env[key]).write_text("postgresql+psycopg://app:pw@db.ai-data.svc.cluster.local/ai\n")
    for key, name in profile.of_kind("ConfigMap")[0]["data"].items():
        variable = "OUTRIGGER_PIPELINES_FILE" if key == "pipelines.yaml" else CONFIG_FILE_VAR
        env[variable] = str(tmp_path / key)
        (tmp_path / key).write_text(name)
    env["OUTRIGGER_DATA_DIR"] = str(tmp_path / "data")
    outrigger = Path(sys.executable).parent / "outrigger"
    done = subprocess.run(
        [str(outrigger), "config", "check"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "credit-risk@1.0.0" in done.stdout


# --- what the chart refuses ------------------------------------------------------------------------


REFUSALS = {
    "no digest": ({"image": {"digest": ""}}, "image.digest is required"),
    "sqlite in a regulated namespace": (
        {"secrets": {"storage": {"secretName": ""}}},
        "secrets.storage.secretName is required",
    ),
    "wildcard provider": (
        {"networkPolicy": {"llmProviders": {"fqdns": [{"matchPattern": "*.openai.azure.com"}]}}},
        "exact names (matchName) only",
    ),
    "no model pins": ({"models": None}, "pin every model version"),
    "per-replica limits": ({"secrets": {"redis": {"secretName": ""}}}, "secrets.redis.secretName"),
    "key for an unknown provider": (
        {"secrets": {"providers": [{"name": "anthropic", "secretName": "s", "key": "k"}]}},
        "not a provider of settings.llm.providers",
    ),
    "no network policy": ({"networkPolicy": {"enabled": False}}, "must stay on"),
    "plain HTTP": ({"secrets": {"gatewayTls": {"secretName": ""}}}, "gatewayTls.secretName"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_compliance_profile_refuses_unsafe_values(helm: Any, case: str) -> None:
    change, message = REFUSALS[case]
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render_profile(helm, "compliance", change)


@pytest.mark.parametrize(
    "change",
    [
        {"networkPolicy": {"flavor": "calico"}},
        {"networkpolicy": {"enabled": False}},
        {"image": {"digest": "latest"}},
        {"config": {"bus": {"kind": "kinesis"}}},
        {"config": {"bus": {"kafka": {"saslMechanism": "GSSAPI"}}}},
        {"keda": {"sqs": {"identityOwner": "pod"}}},
        {"secrets": {"providers": [{"name": "OpenAI", "secretName": "s", "key": "k"}]}},
    ],
)
def test_values_schema_rejects_mistakes(helm: Any, change: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        render_profile(helm, "default", change)


# --- KEDA on every broker: the trigger watches the backlog the worker really consumes -------------


def the_trigger(rendered: Rendered) -> dict[str, Any]:
    (scaled,) = rendered.of_kind("ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-outrigger-worker"
    (trigger,) = scaled["spec"]["triggers"]
    return typing.cast(dict[str, Any], trigger)


def auth_of(rendered: Rendered, trigger: dict[str, Any]) -> dict[str, Any]:
    auth = rendered.get("TriggerAuthentication", trigger["authenticationRef"]["name"])
    return typing.cast(dict[str, Any], auth["spec"])


def worker_secrets(rendered: Rendered) -> set[tuple[str, str]]:
    """(Secret, key) pairs the worker mounts."""
    volumes = pod_spec(rendered.component("Deployment", "worker"))["volumes"]
    return {
        (source["secret"]["name"], item["key"])
        for volume in volumes
        if "projected" in volume
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }


def test_keda_on_kafka_watches_the_workers_consumer_group(
    helm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rendered = render_bus(helm, "kafka")
    bus = worker_bus_settings(rendered, monkeypatch, tmp_path)
    trigger = the_trigger(rendered)
    meta = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert meta["consumerGroup"] == KafkaBus(bus.kafka).group(bus.queue)
    assert meta["bootstrapServers"] == bus.kafka.bootstrap_servers
    # No topic: the group's lag over every topic it reads, the queue's own topic among them.
    assert "topic" not in meta
    assert bus.queue in subscription_topics(Subscription(bus.queue, bus.exchange))[0]
    assert meta["lagThreshold"] == "200"
    assert meta["offsetResetPolicy"] == "latest"  # start_at=declare: a new group starts at the end
    assert (meta["sasl"], meta["tls"]) == ("scram_sha512", "enable")
    assert bus.kafka.client_config()["sasl.mechanism"] == "SCRAM-SHA-512"
    auth = auth_of(rendered, trigger)
    (password,) = auth["secretTargetRef"]
    assert password["parameter"] == "password"
    assert (password["name"], password["key"]) in worker_secrets(rendered)
    (username,) = auth["env"]
    assert username["parameter"] == "username" and username["containerName"] == "worker"
    assert worker_env(rendered)[username["name"]] == bus.kafka.sasl_username


def test_keda_on_kafka_without_sasl_needs_no_credentials(helm: Any) -> None:
    plain = {"config": {"bus": {"kafka": {"saslMechanism": "", "securityProtocol": "PLAINTEXT"}}}}
    rendered = render_bus(helm, "kafka", plain)
    trigger = the_trigger(rendered)
    assert "authenticationRef" not in trigger and not rendered.of_kind("TriggerAuthentication")
    assert {"sasl", "tls"}.isdisjoint(trigger["metadata"])
    assert worker_secrets(rendered) == {("outrigger-llm-openai", "api-key")}
    topic = render_bus(helm, "kafka", {"keda": {"kafka": {"topic": "acme.loans.submitted"}}})
    assert the_trigger(topic)["metadata"]["topic"] == "acme.loans.submitted"


def test_keda_on_nats_watches_the_queues_durable_consumer(
    helm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rendered = render_bus(helm, "nats")
    bus = worker_bus_settings(rendered, monkeypatch, tmp_path)
    trigger = the_trigger(rendered)
    meta = trigger["metadata"]
    assert trigger["type"] == "nats-jetstream"
    # The durable the bus declares for the queue, on the stream it creates for the exchange.
    assert meta["consumer"] == entity_name(bus.queue) != bus.queue
    assert meta["stream"] == entity_name(bus.exchange) != bus.exchange
    assert meta["natsServerMonitoringEndpoint"] == "nats.messaging.svc.cluster.local:8222"
    assert meta["account"] == "$G" and meta["lagThreshold"] == "200"
    assert "authenticationRef" not in trigger
    assert bus.nats.url_file is not None  # the worker reads its URL from the mounted Secret
    owned = render_bus(helm, "nats", {"keda": {"nats": {"stream": "LOANS"}}})
    assert the_trigger(owned)["metadata"]["stream"] == "LOANS"


def test_keda_on_redis_watches_the_queues_group_on_the_exchange_stream(
    helm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rendered = render_bus(helm, "redis")
    bus = worker_bus_settings(rendered, monkeypatch, tmp_path)
    trigger = the_trigger(rendered)
    meta = trigger["metadata"]
    assert trigger["type"] == "redis-streams"
    assert meta["stream"] == RedisBus(bus.redis).keys.stream(bus.exchange, bus.queue)
    assert meta["consumerGroup"] == bus.queue  # RedisBus.declare: XGROUP CREATE <stream> <queue>
    assert meta["lagCount"] == "200" and "pendingEntriesCount" not in meta
    assert meta["address"] == "redis.messaging.svc:6379"
    (password,) = auth_of(rendered, trigger)["secretTargetRef"]
    secret = BROKER_VALUES["redis"]["secrets"]["redisBus"]["secretName"]
    assert (password["parameter"], password["name"], password["key"]) == (
        "password",
        secret,
        "password",
    )
    assert (secret, "url") in worker_secrets(rendered), "the Secret the worker mounts"
    assert bus.redis.url_file is not None


@pytest.mark.parametrize("queue", [BUS_NAMES["queue"], "outrigger." + "very-long-name." * 6])
def test_keda_on_sqs_watches_the_workers_queue(
    helm: Any, queue: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rendered = render_bus(helm, "sqs", {"config": {"bus": {"queue": queue}}})
    bus = worker_bus_settings(rendered, monkeypatch, tmp_path)
    trigger = the_trigger(rendered)
    meta = trigger["metadata"]
    assert trigger["type"] == "aws-sqs-queue"
    name = SqsBus(bus.sqs).name(bus.queue)
    assert name.endswith(".fifo") and len(name) <= 80
    assert meta["queueURL"] == f"https://{SQS_HOST}/123456789012/{name}"
    assert meta["awsRegion"] == bus.sqs.region == SQS_REGION
    assert meta["queueLength"] == "200" and "awsEndpoint" not in meta
    assert auth_of(rendered, trigger) == {
        "podIdentity": {"provider": "aws", "identityOwner": "keda"}
    }


def test_keda_on_sqs_emulator_and_role(helm: Any) -> None:
    extra = {
        "config": {"bus": {"sqs": {"endpointUrl": "http://localstack.test.svc:4566/"}}},
        "keda": {"sqs": {"accountId": "", "roleArn": "arn:aws:iam::123456789012:role/keda-sqs"}},
    }
    rendered = render_bus(helm, "sqs", extra)
    trigger = the_trigger(rendered)
    assert trigger["metadata"]["queueURL"] == "prod_outrigger-credit-risk.fifo"
    assert trigger["metadata"]["awsEndpoint"] == "http://localstack.test.svc:4566/"
    ref = {"provider": "aws", "roleArn": "arn:aws:iam::123456789012:role/keda-sqs"}
    assert auth_of(rendered, trigger) == {"podIdentity": ref}


@pytest.mark.parametrize("kind", BROKERS)
def test_each_broker_kind_renders_a_consistent_worker(
    helm: Any, kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rendered = render_bus(helm, kind)
    assert worker_bus_settings(rendered, monkeypatch, tmp_path).kind == kind
    names = {n for d in rendered.of_kind("Deployment") for c in containers(d) for n in env_of(c)}
    assert {n for n in names if not settings_knows(n)} == set()
    mount_path = rendered.values["secrets"]["mountPath"]
    for deployment in rendered.of_kind("Deployment"):
        files = projected_files(deployment, mount_path)
        for container in containers(deployment):
            assert set(secret_files(env_of(container)).values()) == files
    gateway = env_of(main_container(rendered, "gateway"))
    assert not any(k.startswith("OUTRIGGER_BUS__") for k in gateway)
    assert [
        h["spec"]["scaleTargetRef"]["name"] for h in rendered.of_kind("HorizontalPodAutoscaler")
    ] == [f"{RELEASE}-outrigger-gateway"]


@pytest.mark.parametrize("kind", IN_PROCESS)
def test_keda_refuses_an_in_process_bus(helm: Any, kind: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=f"the {kind} bus runs inside the worker pod"):
        render_bus(helm, kind)
    # Without KEDA it renders: the CPU HPA scales the worker.
    rendered = render_bus(helm, kind, {"keda": {"enabled": False}})
    assert not rendered.of_kind("ScaledObject")


BROKER_REFUSALS: dict[str, tuple[str, dict[str, Any], str]] = {
    "nats without its URL Secret": (
        "nats",
        {"secrets": {"nats": {"secretName": ""}}},
        "secrets.nats.secretName is required with the nats bus",
    ),
    "nats without a monitoring endpoint": (
        "nats",
        {"keda": {"nats": {"monitoringEndpoint": ""}}},
        "keda.nats.monitoringEndpoint is required",
    ),
    "redis without its URL Secret": (
        "redis",
        {"secrets": {"redisBus": {"secretName": ""}}},
        "secrets.redisBus.secretName is required with the redis bus",
    ),
    "redis without an address": (
        "redis",
        {"keda": {"redis": {"address": ""}}},
        "keda.redis.address is required",
    ),
    "kafka without bootstrap servers": (
        "kafka",
        {"config": {"bus": {"kafka": {"bootstrapServers": ""}}}},
        "config.bus.kafka.bootstrapServers is required",
    ),
    "kafka SASL without its password Secret": (
        "kafka",
        {"secrets": {"kafka": {"secretName": ""}}},
        "secrets.kafka.secretName is required",
    ),
    "sqs behind plain NetworkPolicy without ranges": (
        "sqs",
        {"networkPolicy": {"flavor": "kubernetes", "broker": {"cidrs": []}}},
        "networkPolicy.broker.cidrs is required with the sqs bus",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKER_REFUSALS))
def test_a_broker_without_its_settings_is_refused(helm: Any, case: str) -> None:
    kind, change, message = BROKER_REFUSALS[case]
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render_bus(helm, kind, change)
