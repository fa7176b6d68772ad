"""A small evaluator of Kubernetes NetworkPolicy and CiliumNetworkPolicy, for the chart's tests.

It answers "may this pod open a connection to that pod or host on this port?" for the subset
of both languages the chart uses, and refuses (``Unsupported``) any field outside that subset
instead of guessing. The semantics modelled:

* A pod is isolated in a direction as soon as one policy selecting it covers that direction
  (NetworkPolicy: ``policyTypes``; Cilium: rules or ``enableDefaultDeny`` in that direction).
  An isolated pod may do what the union of all allow rules of all policies selecting it allows
  (Cilium enforces both kinds together); a connection needs the source's egress and the
  destination's ingress.
* NetworkPolicy peers: ``podSelector`` / ``namespaceSelector`` (both: AND; ``podSelector``
  alone: the policy's namespace), ``ipBlock`` with ``except`` for hosts outside the cluster.
  A rule without peers or without ports matches every peer or port.
* Cilium: ``toEndpoints`` / ``fromEndpoints`` selectors over the pod's labels plus
  ``io.kubernetes.pod.namespace``; a selector that names no namespace means the policy's own
  namespace. A rule without an L3 selector matches every peer. ``toFQDNs`` matches a host by
  name only if the pod may also look that name up through a ``rules.dns`` entry on its DNS
  egress (that is how Cilium's DNS proxy learns the addresses). In ``matchPattern`` a lone
  ``*`` matches every name; elsewhere ``*`` matches characters within one label, never a dot.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Policy = Mapping[str, Any]
DNS_PORT = 53
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."


class Unsupported(ValueError):
    """The policy uses a field this evaluator does not model."""


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def all_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.name, **self.labels}


@dataclass(frozen=True)
class Pod:
    namespace: Namespace
    labels: Mapping[str, str]
    name: str = "pod"

    def __str__(self) -> str:
        return f"{self.namespace.name}/{self.name}"


@dataclass(frozen=True)
class Host:
    """A host outside the cluster."""

    name: str
    ip: str

    def __str__(self) -> str:
        return self.name


Endpoint = Pod | Host


def _only(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(mapping) - allowed
    if unknown:
        raise Unsupported(f"{where}: {sorted(unknown)} not modelled")


# --- label selectors --------------------------------------------------------------------------


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    _only(expr, {"key", "operator", "values"}, "matchExpressions")
    key, op, values = expr["key"], expr["operator"], expr.get("values", [])
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    raise Unsupported(f"selector operator {op}")


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector; an empty one matches everything."""
    selector = selector or {}
    _only(selector, {"matchLabels", "matchExpressions"}, "label selector")
    match = selector.get("matchLabels") or {}
    if any(labels.get(key) != value for key, value in match.items()):
        return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


# --- NetworkPolicy -------------------------------------------------------------------------------


def _knp_peer_matches(peer: Mapping[str, Any], policy_ns: str, endpoint: Endpoint) -> bool:
    _only(peer, {"podSelector", "namespaceSelector", "ipBlock"}, "NetworkPolicy peer")
    if "ipBlock" in peer:
        if not isinstance(endpoint, Host):
            return False  # the chart never uses ipBlock for in-cluster peers
        ip = ipaddress.ip_address(endpoint.ip)
        block = peer["ipBlock"]
        if ip not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(ip in ipaddress.ip_network(c) for c in block.get("except", []))
    if not isinstance(endpoint, Pod):
        return False
    if "namespaceSelector" in peer:
        in_namespace = selector_matches(peer["namespaceSelector"], endpoint.namespace.all_labels())
    else:
        in_namespace = endpoint.namespace.name == policy_ns
    return in_namespace and selector_matches(peer.get("podSelector"), endpoint.labels)


def _knp_ports_match(ports: list[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        _only(entry, {"port", "protocol"}, "NetworkPolicy port")
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry or int(entry["port"]) == port:
            return True
    return False


def _knp_types(policy: Policy) -> set[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if "egress" in spec else set())


def _knp_allows(policy: Policy, direction: str, peer: Endpoint, port: int, proto: str) -> bool:
    spec, ns = policy["spec"], policy["metadata"]["namespace"]
    _only(spec, {"podSelector", "policyTypes", "ingress", "egress"}, "NetworkPolicy spec")
    peers_key = "to" if direction == "egress" else "from"
    for rule in spec.get(direction) or []:
        _only(rule, {peers_key, "ports"}, f"NetworkPolicy {direction} rule")
        peers = rule.get(peers_key)
        if peers and not any(_knp_peer_matches(p, ns, peer) for p in peers):
            continue
        if _knp_ports_match(rule.get("ports"), port, proto):
            return True
    return False


# --- CiliumNetworkPolicy -------------------------------------------------------------------------


def cilium_labels(pod: Pod) -> dict[str, str]:
    labels = dict(pod.labels)
    labels[NAMESPACE_LABEL] = pod.namespace.name
    for key, value in pod.namespace.all_labels().items():
        labels[NAMESPACE_LABELS_PREFIX + key] = value
    return labels


def _strip_source(selector: Mapping[str, Any]) -> dict[str, Any]:
    """Drop Cilium's label-source prefixes (``k8s:``, ``any:``) from a selector's keys."""
    _only(selector, {"matchLabels", "matchExpressions"}, "endpoint selector")

    def bare(key: str) -> str:
        return key.split(":", 1)[1] if key.startswith(("k8s:", "any:")) else key

    labels = {bare(k): v for k, v in (selector.get("matchLabels") or {}).items()}
    exprs = [{**e, "key": bare(e["key"])} for e in selector.get("matchExpressions") or []]
    return {"matchLabels": labels, "matchExpressions": exprs}


def _cnp_endpoint_matches(selector: Mapping[str, Any], policy_ns: str, pod: Pod) -> bool:
    bare = _strip_source(selector)
    names_namespace = NAMESPACE_LABEL in bare["matchLabels"] or any(
        e["key"] == NAMESPACE_LABEL for e in bare["matchExpressions"]
    )
    if not names_namespace and pod.namespace.name != policy_ns:
        return False
    return selector_matches(bare, cilium_labels(pod))


def fqdn_matches(selector: Mapping[str, str], name: str) -> bool:
    _only(selector, {"matchName", "matchPattern"}, "FQDN selector")
    name = name.lower().rstrip(".")
    if "matchName" in selector:
        return name == selector["matchName"].lower().rstrip(".")
    pattern = selector["matchPattern"].lower().rstrip(".")
    if pattern == "*":
        return True
    if "**" in pattern:
        raise Unsupported("multi-label wildcard **")
    regex = re.escape(pattern).replace(r"\*", "[-a-z0-9_]*")
    return re.fullmatch(regex, name) is not None


def _cnp_port_entries(rule: Mapping[str, Any]) -> Iterable[tuple[Mapping[str, Any], Any]]:
    for to_port in rule.get("toPorts") or []:
        _only(to_port, {"ports", "rules"}, "toPorts entry")
        rules = to_port.get("rules")
        if rules is not None:
            _only(rules, {"dns"}, "L7 rules")
        for entry in to_port.get("ports") or [{}]:
            _only(entry, {"port", "protocol"}, "Cilium port")
            yield entry, rules


def _cnp_port_matches(entry: Mapping[str, Any], port: int, protocol: str) -> bool:
    if entry.get("protocol", "ANY") not in ("ANY", protocol):
        return False
    return "port" not in entry or str(entry["port"]) in ("0", str(port))


def _cnp_ports_match(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
    if not rule.get("toPorts"):
        return True
    return any(_cnp_port_matches(e, port, protocol) for e, _ in _cnp_port_entries(rule))


def _dns_rule_allows(rule: Mapping[str, Any], name: str) -> bool:
    """Whether a rule's DNS (port 53) entries carry an L7 dns rule admitting ``name``."""
    for entry, rules in _cnp_port_entries(rule):
        if not rules or not _cnp_port_matches(entry, DNS_PORT, "UDP"):
            continue
        if any(fqdn_matches(s, name) for s in rules.get("dns") or []):
            return True
    return False


def _cnp_isolates(policy: Policy, direction: str) -> bool:
    spec = policy["spec"]
    default_deny = (spec.get("enableDefaultDeny") or {}).get(direction)
    if default_deny is False:
        return False
    return bool(default_deny) or direction in spec


EGRESS_KEYS = {"toEndpoints", "toFQDNs", "toPorts"}
INGRESS_KEYS = {"fromEndpoints", "toPorts"}
CNP_SPEC_KEYS = {"description", "endpointSelector", "enableDefaultDeny", "ingress", "egress"}


@dataclass
class Cluster:
    """The policies in force, and where cluster DNS runs."""

    policies: list[Policy]
    dns: Pod

    def __post_init__(self) -> None:
        for policy in self.policies:
            if policy["kind"] == "CiliumNetworkPolicy":
                _only(policy["spec"], CNP_SPEC_KEYS, "CiliumNetworkPolicy spec")

    # which policies apply

    def _selects(self, policy: Policy, pod: Pod) -> bool:
        if policy["metadata"]["namespace"] != pod.namespace.name:
            return False
        if policy["kind"] == "NetworkPolicy":
            return selector_matches(policy["spec"]["podSelector"], pod.labels)
        if policy["kind"] == "CiliumNetworkPolicy":
            selector = _strip_source(policy["spec"]["endpointSelector"])
            return selector_matches(selector, cilium_labels(pod))
        raise Unsupported(f"policy kind {policy['kind']}")

    @staticmethod
    def _isolates(policy: Policy, direction: str) -> bool:
        if policy["kind"] == "NetworkPolicy":
            return direction.capitalize() in _knp_types(policy)
        return _cnp_isolates(policy, direction)

    def _policies(self, pod: Pod, direction: str) -> list[Policy] | None:
        """The policies whose rules decide for ``pod``; None when nothing isolates it."""
        selecting = [p for p in self.policies if self._selects(p, pod)]
        if not any(self._isolates(p, direction) for p in selecting):
            return None
        return [
            p
            for p in selecting
            if direction in p["spec"]
            and (p["kind"] != "NetworkPolicy" or direction.capitalize() in _knp_types(p))
        ]

    # DNS

    def may_resolve(self, pod: Pod, name: str) -> bool:
        """Whether Cilium's DNS proxy lets ``pod`` look ``name`` up (and so learn its IPs)."""
        for policy in self.policies:
            if policy["kind"] != "CiliumNetworkPolicy" or not self._selects(policy, pod):
                continue
            ns = policy["metadata"]["namespace"]
            for rule in policy["spec"].get("egress") or []:
                if not self._cnp_l3_matches(rule, ns, self.dns, pod):
                    continue
                if _dns_rule_allows(rule, name):
                    return True
        return False

    # rules

    def _cnp_l3_matches(self, rule: Mapping[str, Any], ns: str, peer: Endpoint, src: Pod) -> bool:
        _only(rule, EGRESS_KEYS, "Cilium egress rule")
        selectors = [k for k in ("toEndpoints", "toFQDNs") if k in rule]
        if not selectors:
            return True  # an L4-only rule: every destination
        if "toEndpoints" in rule and isinstance(peer, Pod):
            return any(_cnp_endpoint_matches(s, ns, peer) for s in rule["toEndpoints"])
        if "toFQDNs" in rule and isinstance(peer, Host):
            named = any(fqdn_matches(s, peer.name) for s in rule["toFQDNs"])
            return named and self.may_resolve(src, peer.name)
        return False

    def _cnp_egress(self, policy: Policy, src: Pod, dst: Endpoint, port: int, proto: str) -> bool:
        ns = policy["metadata"]["namespace"]
        return any(
            self._cnp_l3_matches(rule, ns, dst, src) and _cnp_ports_match(rule, port, proto)
            for rule in policy["spec"].get("egress") or []
        )

    @staticmethod
    def _cnp_ingress(policy: Policy, src: Endpoint, port: int, proto: str) -> bool:
        ns = policy["metadata"]["namespace"]
        for rule in policy["spec"].get("ingress") or []:
            _only(rule, INGRESS_KEYS, "Cilium ingress rule")
            if "fromEndpoints" in rule:
                if not isinstance(src, Pod):
                    continue
                if not any(_cnp_endpoint_matches(s, ns, src) for s in rule["fromEndpoints"]):
                    continue
            if _cnp_ports_match(rule, port, proto):
                return True
        return False

    # decisions

    def _allows(self, policy: Policy, direction: str, rule_args: tuple[Any, ...]) -> bool:
        src, dst, port, proto = rule_args
        if policy["kind"] == "NetworkPolicy":
            peer = dst if direction == "egress" else src
            return _knp_allows(policy, direction, peer, port, proto)
        if direction == "egress":
            return self._cnp_egress(policy, src, dst, port, proto)
        return self._cnp_ingress(policy, src, port, proto)

    def egress_allowed(self, src: Pod, dst: Endpoint, port: int, proto: str = "TCP") -> bool:
        policies = self._policies(src, "egress")
        if policies is None:
            return True
        return any(self._allows(p, "egress", (src, dst, port, proto)) for p in policies)

    def ingress_allowed(self, src: Endpoint, dst: Pod, port: int, proto: str = "TCP") -> bool:
        policies = self._policies(dst, "ingress")
        if policies is None:
            return True
        return any(self._allows(p, "ingress", (src, dst, port, proto)) for p in policies)

    def can_connect(self, src: Endpoint, dst: Endpoint, port: int, proto: str = "TCP") -> bool:
        if isinstance(src, Pod) and not self.egress_allowed(src, dst, port, proto):
            return False
        return not isinstance(dst, Pod) or self.ingress_allowed(src, dst, port, proto)
