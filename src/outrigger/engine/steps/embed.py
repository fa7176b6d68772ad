"""The ``embed`` step: an event's text -> a vector in the tenant's namespace of the vector
store (``<namespace>.<tenant>``), with metadata; ``steps.<name>`` gets the vector's id.

Concurrent events are batched: one embedding call per tenant in the batch (through the
proxy's limits, ledger and audit trail when the worker connects it: ``PipelineEmbeddings``),
then one upsert per namespace in a worker thread. A tenant's refusal (quota, unknown
tenant) fails that tenant's events only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from opentelemetry.context import Context, get_current
from opentelemetry.trace import SpanKind, Tracer

from outrigger.batching import MicroBatcher
from outrigger.config.pipelines import EmbedStep
from outrigger.embeddings.base import Embedder, Vectors
from outrigger.engine.mapping import MISSING, resolve
from outrigger.engine.steps.base import Batching, StepContext, step_span
from outrigger.errors import ConfigError, MappingError, OutriggerError, TransientError
from outrigger.storage.tenants import TENANT_ID
from outrigger.vector.base import VectorStore


class EmbedClient(Protocol):
    async def embed(
        self,
        tenant_id: str,
        feature: str,
        texts: Sequence[str],
        trace_id: str | None = None,
        parent: Context | None = None,
    ) -> Vectors: ...


class UnrecordedEmbeddings:
    """The embedder called directly, in a worker thread, with no ledger row: for tools and
    tests that run ``embed`` steps without a proxy (the worker always connects one)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    async def embed(
        self,
        tenant_id: str,
        feature: str,
        texts: Sequence[str],
        trace_id: str | None = None,
        parent: Context | None = None,
    ) -> Vectors:
        return await asyncio.to_thread(self.embedder.embed, list(texts))


@dataclass(frozen=True)
class VectorTarget:
    """Where ``embed`` steps write: the embedder and the vector store (same dimension), and
    the client that makes the embedding calls (default: the embedder, unrecorded)."""

    embedder: Embedder
    store: VectorStore
    client: EmbedClient | None = None

    @property
    def calls(self) -> EmbedClient:
        """The client embedding calls go through."""
        return self.client or UnrecordedEmbeddings(self.embedder)

    def __post_init__(self) -> None:
        if self.embedder.dim != self.store.dim:
            raise ConfigError(
                f"the vector store holds {self.store.dim}-d vectors but the embedder "
                f"{self.embedder.model_id} makes {self.embedder.dim}-d ones"
            )


@dataclass(frozen=True)
class Row:
    tenant: str
    namespace: str
    id: str
    text: str
    payload: dict[str, Any]
    trace_id: str | None = None  # the event's trace, for the ledger row and the call's span
    parent: Context | None = field(default=None, hash=False, compare=False)


class EmbedRunner:
    def __init__(
        self,
        spec: EmbedStep,
        target: VectorTarget | None,
        batching: Batching | None = None,
        feature: str = "embed",
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.target = target
        self.feature = feature  # the ledger's feature: the pipeline's name
        batching = batching or Batching()
        self.batcher: MicroBatcher[Row, OutriggerError | None] = MicroBatcher(
            self._execute,
            max_size=batching.max_size,
            max_wait_s=batching.max_wait_s,
            company=batching.company,
        )

    async def __call__(self, ctx: StepContext, tracer: Tracer) -> None:
        name = f"embeddings {self.spec.namespace}"
        with step_span(tracer, name, SpanKind.CLIENT) as (current, trace_id):
            await self.run(ctx, trace_id)
            if current is not None:
                done = ctx.steps[self.spec.name]
                current.set_attributes(
                    {
                        "gen_ai.operation.name": "embeddings",
                        "gen_ai.request.model": done["model"],
                        "outrigger.step": self.spec.name,
                        "outrigger.vector.namespace": done["namespace"],
                    }
                )

    async def run(self, ctx: StepContext, trace_id: str | None = None) -> None:
        """Embed and store the event's text; ``trace_id``: the step span's trace, which the
        embedding call joins (when its batch holds this tenant's event alone)."""
        target = self._target()
        row = replace(self.prepare(ctx), trace_id=trace_id, parent=get_current())
        failure = await self.batcher.submit(row)
        if failure is not None:
            raise failure
        ctx.steps[self.spec.name] = {
            "id": row.id,
            "namespace": row.namespace,
            "model": target.embedder.model_id,
            "dim": target.embedder.dim,
        }
        ctx.models.append({"name": "embeddings", "version": target.embedder.model_id})

    def _target(self) -> VectorTarget:
        if self.target is None:
            raise TransientError("this process has no embedder and vector store connected")
        return self.target

    def prepare(self, ctx: StepContext) -> Row:
        root = ctx.root()
        tenant = self._tenant(root)
        text = self._required(root, self.spec.text, "text")
        if not text.strip():
            raise MappingError(f"{self.spec.text}: empty text (step {self.spec.name!r})")
        ident = ctx.event.id
        if self.spec.id_path is not None:
            ident = self._required(root, self.spec.id_path, "id")
        payload: dict[str, Any] = {}
        for name, path in self.spec.metadata.items():
            value = resolve(root, path)
            payload[name] = None if value is MISSING else value
        payload.update(tenant=tenant, event_id=ctx.event.id, event_type=ctx.event.type)
        if self.spec.store_text:
            payload["text"] = text
        return Row(tenant, f"{self.spec.namespace}.{tenant}", ident, text, payload)

    def _tenant(self, root: dict[str, Any]) -> str:
        value = resolve(root, self.spec.tenant_path)
        if value is MISSING or value in (None, ""):
            if self.spec.tenant_default is None:
                raise MappingError(f"{self.spec.tenant_path}: the event names no tenant")
            value = self.spec.tenant_default
        tenant = str(value)
        if not TENANT_ID.match(tenant):
            raise MappingError(f"{self.spec.tenant_path}: {tenant!r} is not a valid tenant id")
        return tenant

    def _required(self, root: dict[str, Any], path: str, what: str) -> str:
        value = resolve(root, path)
        if value is MISSING or value is None or isinstance(value, dict | list):
            raise MappingError(f"{path}: missing or not a value ({what} of {self.spec.name!r})")
        return value if isinstance(value, str) else str(value)

    async def _execute(self, rows: Sequence[Row]) -> list[OutriggerError | None]:
        """One embedding call per tenant (concurrently), then its upserts; a tenant's failure
        is only its own rows' outcome."""
        target = self._target()
        by_tenant: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            by_tenant.setdefault(row.tenant, []).append(i)
        outcomes: list[OutriggerError | None] = [None] * len(rows)
        groups = [[rows[i] for i in chosen] for chosen in by_tenant.values()]
        failures = await asyncio.gather(*(self._embed_group(target, g) for g in groups))
        for chosen, failure in zip(by_tenant.values(), failures, strict=True):
            for i in chosen:
                outcomes[i] = failure
        return outcomes

    async def _embed_group(self, target: VectorTarget, rows: list[Row]) -> OutriggerError | None:
        """Embed and upsert one tenant's rows; the failure, if any (anything unexpected, such
        as a vector store's own error, is transient: retried)."""
        alone = len({r.trace_id for r in rows}) == 1  # one event (or one trace) only
        trace_id, parent = (rows[0].trace_id, rows[0].parent) if alone else (None, None)
        try:
            texts = [r.text for r in rows]
            vectors = await target.calls.embed(
                rows[0].tenant, self.feature, texts, trace_id, parent
            )
            await asyncio.to_thread(self.write, rows, vectors, target.store)
        except OutriggerError as exc:
            return exc
        except Exception as exc:
            failure = TransientError(f"embed step {self.spec.name!r}: {exc!r}")
            failure.__cause__ = exc
            return failure
        return None

    @staticmethod
    def write(rows: Sequence[Row], vectors: Vectors, store: VectorStore) -> None:
        """Upsert ``rows`` with their ``vectors`` per namespace (the last row of an id wins
        when a batch holds one id twice)."""
        groups: dict[str, dict[str, int]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(row.namespace, {})[row.id] = i
        for namespace, index in groups.items():
            chosen = list(index.values())
            store.upsert(
                namespace,
                [rows[i].id for i in chosen],
                vectors[chosen],
                [rows[i].payload for i in chosen],
            )
