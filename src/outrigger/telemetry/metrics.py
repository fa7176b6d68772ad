"""Prometheus metrics of the worker and the gateway, on a registry of their own.

Every collector lives on the ``Metrics`` instance (no module-level state): tests build their
own, and the process exposes one through ``/metrics``. Names follow Prometheus conventions
(``_total`` counters, ``_seconds`` histograms); ``deploy/grafana/outrigger.json`` uses only
these names (a test checks it).

Label values come from configuration or from small fixed sets, except the ``feature`` of an
LLM call, which any tenant picks with ``X-Outrigger-Feature``: ``FeatureLabels`` bounds it, so
no caller can grow the series (and the memory of this process and of Prometheus) at will.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


_MAX_CACHED_SERIES = 10_000
#: Distinct unconfigured features per process that keep their own label (``telemetry.
#: max_feature_labels``); later ones are counted under ``OTHER_FEATURE``.
DEFAULT_MAX_FEATURE_LABELS = 100
#: Not a feature anyone can send (a feature starts with a letter or digit).
OTHER_FEATURE = "_other"


class FeatureLabels:
    """The ``feature`` label of a call: features named in the configuration always keep
    their own; the first ``cap`` others seen by this process too; any later one is
    ``OTHER_FEATURE``. (The ledger and audit trail keep the real feature.)"""

    def __init__(self, known: Iterable[str] = (), cap: int = DEFAULT_MAX_FEATURE_LABELS) -> None:
        self.known = frozenset(known)
        self.cap = cap
        self._seen: set[str] = set()

    def __call__(self, feature: str) -> str:
        if feature in self.known or feature in self._seen:
            return feature
        if len(self._seen) < self.cap:
            self._seen.add(feature)
            return feature
        return OTHER_FEATURE


@dataclass(frozen=True)
class LlmCallSeries:
    """The labelled children one LLM call counts in (see ``Metrics.llm_call``)."""

    requests: Any
    latency: Any
    tokens_in: Any
    tokens_out: Any
    cost: Any
    cache: Any

    def count(self, latency_s: float, tokens_in: int, tokens_out: int, cost: float) -> None:
        self.requests.inc()
        self.latency.observe(latency_s)
        self.tokens_in.inc(tokens_in)
        self.tokens_out.inc(tokens_out)
        self.cost.inc(cost)
        self.cache.inc()


class Metrics:
    def __init__(self, features: FeatureLabels | None = None) -> None:
        self.features = features or FeatureLabels()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_received = Counter(
            "outrigger_events_received",
            "Deliveries taken from Outrigger's queue",
            ["queue"],
            registry=r,
        )
        self.events_processed = Counter(
            "outrigger_events_processed",
            "Deliveries settled, by pipeline and outcome (result, dead_letter, duplicate, ignored)",
            ["pipeline", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "outrigger_dead_letters",
            "Messages dead-lettered, by reason code",
            ["reason"],
            registry=r,
        )
        self.retries = Counter(
            "outrigger_retries",
            "Retried attempts after transient failures",
            ["pipeline"],
            registry=r,
        )
        self.processing_seconds = Histogram(
            "outrigger_event_processing_seconds",
            "From delivery to confirmed result (pipeline run + publish)",
            ["pipeline"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_batch_size = Histogram(
            "outrigger_model_batch_size",
            "Rows per model call (micro-batching)",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "outrigger_model_info",
            "1 for the model version each score step uses now",
            ["model", "version"],
            registry=r,
        )
        self.queue_backlog = Gauge(
            "outrigger_queue_backlog",
            "Messages waiting in a queue (sampled)",
            ["queue"],
            registry=r,
        )
        self.dead_letter_queue_size = Gauge(
            "outrigger_dead_letter_queue_size",
            "Messages in the dead-letter queue (sampled)",
            registry=r,
        )

        self._llm(r)
        self._llm_calls: dict[tuple[str, ...], LlmCallSeries] = {}

    def _llm(self, r: CollectorRegistry) -> None:
        """The LLM proxy's series (gateway and pipelines' ``llm`` steps)."""
        self.llm_requests = Counter(
            "outrigger_llm_requests",
            "LLM calls by alias, deployment, feature and status (ok, fallback, error)",
            ["alias", "deployment", "feature", "status"],
            registry=r,
        )
        self.llm_refusals = Counter(
            "outrigger_llm_refusals",
            "Calls refused before any provider was asked, by reason",
            ["reason"],
            registry=r,
        )
        self.records_set_aside = Counter(
            "outrigger_records_set_aside",
            "Ledger rows or audit records the database refused for their data (a value too "
            "long for its column), logged and not written",
            ["writer"],
            registry=r,
        )
        self.llm_latency = Histogram(
            "outrigger_llm_request_seconds",
            "Whole LLM call as the caller sees it (streams: until the last chunk)",
            ["alias"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_tokens = Counter(
            "outrigger_llm_tokens",
            "Tokens by alias and direction (in, out)",
            ["alias", "direction"],
            registry=r,
        )
        self.llm_cost = Counter(
            "outrigger_llm_cost_usd",
            "Cost in US dollars from the price table",
            ["alias", "feature"],
            registry=r,
        )
        self.llm_cache = Counter(
            "outrigger_llm_cache",
            "Cache look-ups by result (hit, miss, bypass)",
            ["result"],
            registry=r,
        )
        self.llm_circuit_state = Gauge(
            "outrigger_llm_circuit_state",
            "Circuit of each deployment: 0 closed, 1 half-open, 2 open",
            ["deployment"],
            registry=r,
        )
        self.llm_guard = Counter(
            "outrigger_llm_guard",
            "Guardrail outcomes: pii/redacted (identifiers replaced), injection/block|flag|log, "
            "output/invalid|repaired, canary/leaked|repaired, structure/leaked|repaired",
            ["check", "outcome"],
            registry=r,
        )

    def llm_call(
        self, alias: str, deployment: str, feature: str, status: str, cache: str
    ) -> LlmCallSeries:
        """The series one finished LLM call updates, looked up once per label combination
        (``labels()`` validates and locks on every call: most of the cost of counting)."""
        feature = self.features(feature)
        key = (alias, deployment, feature, status, cache)
        series = self._llm_calls.get(key)
        if series is None:
            if len(self._llm_calls) >= _MAX_CACHED_SERIES:
                self._llm_calls.clear()
            series = self._llm_calls[key] = LlmCallSeries(
                self.llm_requests.labels(alias, deployment, feature, status),
                self.llm_latency.labels(alias),
                self.llm_tokens.labels(alias, "in"),
                self.llm_tokens.labels(alias, "out"),
                self.llm_cost.labels(alias, feature),
                self.llm_cache.labels(cache),
            )
        return series

    def names(self) -> set[str]:
        """Every series name this process can export, labelled or not yet observed."""
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "gauge": ("",),
        }
        return {
            family.name + suffix
            for family in self.registry.collect()
            for suffix in suffixes.get(family.type, ("",))
        }

    def set_model(self, model: str, version: str) -> None:
        for labels in list(self.model_info._metrics):
            if labels[0] == model:
                self.model_info.remove(*labels)
        self.model_info.labels(model, version).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
