"""Walk the rendered network policies: who may talk to the AI pods, and whom they may reach.

A small world per profile (the broker, the data stores, cluster DNS, the API gateway,
Prometheus, a payments database with the same labels as ours in another namespace, an
unrelated pod beside ours, LLM hosts and an arbitrary internet host) and the connections that
must and must not be possible. Mutated policies prove the checks can fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.deploy.brokers import BROKERS, DEFAULT_PORTS, IN_PROCESS, SQS_HOST, render_bus
from tests.deploy.netpol import Cluster, Endpoint, Host, Namespace, Pod, Unsupported
from tests.deploy.render import Rendered

POLICY_KINDS = ("CiliumNetworkPolicy", "NetworkPolicy")
INTERNET = Host("exfil.example.com", "198.51.100.7")


@dataclass(frozen=True)
class World:
    worker: Pod
    gateway: Pod
    broker: Pod
    vector_store: Pod
    database: Pod
    cache: Pod
    dns: Pod
    api_gateway: Pod
    prometheus: Pod
    payments_db: Pod
    neighbour: Pod
    provider: Host
    other_provider: Host


@dataclass(frozen=True)
class Expect:
    src: Endpoint
    dst: Endpoint
    port: int
    allowed: bool
    proto: str = "TCP"

    def __str__(self) -> str:
        verb = "may" if self.allowed else "must not"
        return f"{self.src} {verb} reach {self.dst}:{self.port}/{self.proto}"


def pod_labels(rendered: Rendered, component: str) -> dict[str, str]:
    template = rendered.component("Deployment", component)["spec"]["template"]
    return template["metadata"]["labels"]


def build_world(rendered: Rendered, data_ns: str, provider: Host, other: Host) -> World:
    def ns(name: str) -> Namespace:
        return Namespace(name)

    release, data = ns(rendered.namespace), ns(data_ns)
    name = "app.kubernetes.io/name"
    return World(
        worker=Pod(release, pod_labels(rendered, "worker"), "outrigger-worker"),
        gateway=Pod(release, pod_labels(rendered, "gateway"), "outrigger-gateway"),
        broker=Pod(ns("messaging"), {name: "rabbitmq"}, "rabbitmq"),
        vector_store=Pod(data, {name: "qdrant"}, "qdrant"),
        database=Pod(data, {name: "postgresql"}, "postgresql"),
        cache=Pod(data, {name: "redis"}, "redis"),
        dns=Pod(ns("kube-system"), {"k8s-app": "kube-dns"}, "coredns"),
        api_gateway=Pod(ns("api-gateway"), {name: "envoy"}, "envoy"),
        prometheus=Pod(ns("monitoring"), {name: "prometheus"}, "prometheus"),
        payments_db=Pod(ns("payments"), {name: "postgresql"}, "postgresql"),
        neighbour=Pod(release, {name: "billing"}, "billing"),
        provider=provider,
        other_provider=other,
    )


OPENAI = Host("api.openai.com", "203.0.113.10")
AZURE_OURS = Host("outrigger-centralindia.openai.azure.com", "203.0.113.20")
AZURE_OTHER = Host("someone-else.openai.azure.com", "203.0.113.30")
WORLDS: dict[str, Callable[[Rendered], World]] = {
    "default": lambda r: build_world(r, "ai-data", OPENAI, AZURE_OTHER),
    "keda": lambda r: build_world(r, "ai-data", OPENAI, AZURE_OTHER),
    "kubernetes": lambda r: build_world(r, "ai-data", OPENAI, AZURE_OTHER),
    "compliance": lambda r: build_world(r, "ai-regulated-data", AZURE_OURS, OPENAI),
}
# Whether the profile's policies reach `other_provider` (the default allows *.openai.azure.com;
# the kubernetes profile allows the 203.0.113.0/24 range; compliance one exact name).
OTHER_PROVIDER_ALLOWED = {"default": True, "keda": True, "kubernetes": True, "compliance": False}


def egress_expectations(w: World, name: str) -> list[Expect]:
    uses_cache = name == "compliance"
    expected = [Expect(w.worker, w.broker, 5672, True), Expect(w.worker, w.broker, 15672, False)]
    expected += [Expect(w.gateway, w.broker, 5672, False)]
    expected += [
        Expect(w.worker, w.cache, 6379, False),
        Expect(w.gateway, w.cache, 6379, uses_cache),
    ]
    for pod in (w.worker, w.gateway):
        expected += [
            Expect(pod, w.dns, 53, True, "UDP"),
            Expect(pod, w.dns, 53, True, "TCP"),
            Expect(pod, w.vector_store, 6333, True),
            Expect(pod, w.database, 5432, True),
            Expect(pod, w.provider, 443, True),
            Expect(pod, w.provider, 80, False),
            Expect(pod, w.other_provider, 443, OTHER_PROVIDER_ALLOWED[name]),
            Expect(pod, w.payments_db, 5432, False),
            Expect(pod, w.neighbour, 8080, False),
            Expect(pod, INTERNET, 443, False),
            Expect(pod, INTERNET, 80, False),
        ]
    return expected


def ingress_expectations(w: World) -> list[Expect]:
    return [
        Expect(w.api_gateway, w.gateway, 8080, True),
        Expect(w.neighbour, w.gateway, 8080, False),
        Expect(w.payments_db, w.gateway, 8080, False),
        Expect(w.prometheus, w.gateway, 8080, False),
        Expect(w.worker, w.gateway, 8080, False),
        Expect(w.prometheus, w.worker, 9464, True),
        Expect(w.api_gateway, w.worker, 9464, False),
        Expect(w.neighbour, w.worker, 9464, False),
        Expect(w.prometheus, w.worker, 8080, False),
    ]


def policies_of(rendered: Rendered) -> list[dict[str, Any]]:
    """The rendered policies as installed: in the release's namespace."""
    policies = copy.deepcopy([o for o in rendered.objects if o["kind"] in POLICY_KINDS])
    for policy in policies:
        policy["metadata"]["namespace"] = rendered.namespace
    return policies


def violations(policies: list[dict[str, Any]], world: World, name: str) -> list[str]:
    cluster = Cluster(policies, dns=world.dns)
    expected = egress_expectations(world, name) + ingress_expectations(world)
    return [
        str(e) for e in expected if cluster.can_connect(e.src, e.dst, e.port, e.proto) != e.allowed
    ]


def test_policies_isolate_the_ai_pods(profile: Rendered, request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.params["profile"]
    world = WORLDS[name](profile)
    assert violations(policies_of(profile), world, name) == []


def test_compliance_pods_may_look_up_only_cluster_and_provider_names(
    rendered: dict[str, Rendered],
) -> None:
    compliance = rendered["compliance"]
    world = WORLDS["compliance"](compliance)
    cluster = Cluster(policies_of(compliance), dns=world.dns)
    for pod in (world.worker, world.gateway):
        assert cluster.may_resolve(pod, AZURE_OURS.name)
        assert cluster.may_resolve(pod, "rabbitmq.messaging.svc.cluster.local")
        assert not cluster.may_resolve(pod, "c2VjcmV0.exfil.example.com"), "DNS tunnelling"
        assert not cluster.may_resolve(pod, AZURE_OTHER.name)


def test_flavor_selects_the_policy_kinds(rendered: dict[str, Rendered]) -> None:
    kinds = {n: sorted({p["kind"] for p in policies_of(r)}) for n, r in rendered.items()}
    assert kinds["default"] == ["CiliumNetworkPolicy"]
    assert kinds["kubernetes"] == ["NetworkPolicy"]
    assert kinds["compliance"] == ["CiliumNetworkPolicy", "NetworkPolicy"]


# --- the checks can fail -------------------------------------------------------------------------


def rule_list(policies: list[dict[str, Any]], kind: str, component: str, key: str) -> list[Any]:
    policy = next(
        p for p in policies if p["kind"] == kind and p["metadata"]["name"].endswith(f"-{component}")
    )
    return policy["spec"][key]


def open_egress_by_name(policies: list[dict[str, Any]]) -> None:
    rule = {"toFQDNs": [{"matchPattern": "*"}], "toPorts": [{"ports": [{"port": "443"}]}]}
    rule_list(policies, "CiliumNetworkPolicy", "worker", "egress").append(rule)


def open_port_everywhere(policies: list[dict[str, Any]]) -> None:
    rule = {"toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]}
    rule_list(policies, "CiliumNetworkPolicy", "worker", "egress").append(rule)


def open_gateway_to_its_namespace(policies: list[dict[str, Any]]) -> None:
    rule_list(policies, "CiliumNetworkPolicy", "gateway", "ingress")[0]["fromEndpoints"] = [{}]


def drop_dns_proxy_rules(policies: list[dict[str, Any]]) -> None:
    for component in ("worker", "gateway"):
        dns = rule_list(policies, "CiliumNetworkPolicy", component, "egress")[0]
        del dns["toPorts"][0]["rules"]


def drop_namespace_from_broker_rule(policies: list[dict[str, Any]]) -> None:
    broker = rule_list(policies, "CiliumNetworkPolicy", "worker", "egress")[1]
    del broker["toEndpoints"][0]["matchLabels"]["k8s:io.kubernetes.pod.namespace"]


def drop_worker_policies(policies: list[dict[str, Any]]) -> None:
    policies[:] = [p for p in policies if not p["metadata"]["name"].endswith("-worker")]


def allow_all_in_networkpolicy(policies: list[dict[str, Any]]) -> None:
    rule_list(policies, "NetworkPolicy", "worker", "egress").append({})


MUTATIONS: dict[str, tuple[str, Callable[[list[dict[str, Any]]], None]]] = {
    "egress to any host name": ("default", open_egress_by_name),
    "an L4-only rule reaches every pod": ("default", open_port_everywhere),
    "gateway open to its namespace": ("default", open_gateway_to_its_namespace),
    "no DNS proxy rule, no toFQDNs": ("default", drop_dns_proxy_rules),
    "selector without a namespace": ("default", drop_namespace_from_broker_rule),
    "worker without a policy": ("default", drop_worker_policies),
    "allow-all NetworkPolicy rule": ("kubernetes", allow_all_in_networkpolicy),
    "both: either kind can open a hole": ("compliance", allow_all_in_networkpolicy),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_weakened_policy_is_caught(mutation: str, rendered: dict[str, Rendered]) -> None:
    name, mutate = MUTATIONS[mutation]
    policies = policies_of(rendered[name])
    mutate(policies)
    assert violations(policies, WORLDS[name](rendered[name]), name) != []


def test_fields_outside_the_modelled_subset_are_refused(rendered: dict[str, Rendered]) -> None:
    policies = policies_of(rendered["default"])
    rule_list(policies, "CiliumNetworkPolicy", "worker", "egress").append({"toCIDR": ["0.0.0.0/0"]})
    world = WORLDS["default"](rendered["default"])
    with pytest.raises(Unsupported, match="toCIDR"):
        Cluster(policies, dns=world.dns).can_connect(world.worker, INTERNET, 443)


# --- the worker reaches its own broker, whatever the bus kind -------------------------------------

FLAVORS = ("cilium", "kubernetes")
SQS = Host(SQS_HOST, "192.0.2.10")  # inside SQS_CIDR, the kubernetes flavor's range
OTHER_AWS = Host("s3.eu-west-1.amazonaws.com", "203.0.113.99")


def broker_pod(kind: str) -> Pod:
    return Pod(Namespace("messaging"), {"app.kubernetes.io/name": kind}, kind)


def broker_expectations(rendered: Rendered, kind: str) -> list[Expect]:
    worker = Pod(Namespace(rendered.namespace), pod_labels(rendered, "worker"), "worker")
    gateway = Pod(Namespace(rendered.namespace), pod_labels(rendered, "gateway"), "gateway")
    expected = [Expect(worker, INTERNET, 443, False), Expect(worker, OTHER_AWS, 443, False)]
    for other in BROKERS:
        if other == "sqs":
            expected += [Expect(worker, SQS, 443, kind == "sqs"), Expect(gateway, SQS, 443, False)]
            continue
        pod, port = broker_pod(other), DEFAULT_PORTS[other]
        expected += [
            Expect(worker, pod, port, other == kind),
            Expect(worker, pod, port + 1, False),
            Expect(gateway, pod, port, False),
        ]
    if kind == "sqs":
        expected += [Expect(worker, SQS, 80, False)]
    return expected


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("kind", BROKERS + IN_PROCESS)
def test_the_worker_reaches_only_its_own_broker(helm: Any, kind: str, flavor: str) -> None:
    change = {"networkPolicy": {"flavor": flavor}, "keda": {"enabled": kind in BROKERS}}
    rendered = render_bus(helm, kind, change)
    policies = policies_of(rendered)
    assert {p["kind"] for p in policies} == {
        "cilium": {"CiliumNetworkPolicy"},
        "kubernetes": {"NetworkPolicy"},
    }[flavor]
    cluster = Cluster(policies, dns=build_world(rendered, "ai-data", OPENAI, AZURE_OTHER).dns)
    wrong = [
        str(e)
        for e in broker_expectations(rendered, kind)
        if cluster.can_connect(e.src, e.dst, e.port, e.proto) != e.allowed
    ]
    assert wrong == []


def test_broker_ports_and_labels_can_be_set(helm: Any) -> None:
    peer = {"namespace": "kafka", "podLabels": {"strimzi.io/kind": "Kafka"}, "ports": [9093]}
    rendered = render_bus(helm, "kafka", {"networkPolicy": {"broker": peer}})
    cluster = Cluster(policies_of(rendered), dns=broker_pod("dns"))
    worker = Pod(Namespace(rendered.namespace), pod_labels(rendered, "worker"), "worker")
    strimzi = Pod(Namespace("kafka"), {"strimzi.io/kind": "Kafka"}, "kafka-0")
    assert cluster.can_connect(worker, strimzi, 9093)
    assert not cluster.can_connect(worker, strimzi, 9092)
    assert not cluster.can_connect(worker, broker_pod("kafka"), 9093), "the default labels are gone"


def test_sqs_host_is_looked_up_even_with_narrow_dns_names(helm: Any) -> None:
    narrow = {"networkPolicy": {"dns": {"names": [{"matchPattern": "*.*.svc.cluster.local"}]}}}
    rendered = render_bus(helm, "sqs", narrow)
    world = build_world(rendered, "ai-data", OPENAI, AZURE_OTHER)
    cluster = Cluster(policies_of(rendered), dns=world.dns)
    assert cluster.may_resolve(world.worker, SQS_HOST)
    assert cluster.can_connect(world.worker, SQS, 443)
    assert not cluster.may_resolve(world.gateway, SQS_HOST)
    assert not cluster.may_resolve(world.worker, OTHER_AWS.name)


def test_a_broker_rule_for_the_wrong_port_is_caught(helm: Any) -> None:
    rendered = render_bus(helm, "nats", {"networkPolicy": {"broker": {"ports": [4223]}}})
    cluster = Cluster(policies_of(rendered), dns=broker_pod("dns"))
    worker = Pod(Namespace(rendered.namespace), pod_labels(rendered, "worker"), "worker")
    assert not cluster.can_connect(worker, broker_pod("nats"), 4222)
