"""The ``embed`` pipeline step end to end: events on the in-memory bus -> the worker -> the
embedded vector store (a SQLite file), one namespace per tenant; then nearest-neighbour
queries find what was indexed. Meaning is tested with all-MiniLM-L6-v2 (skipped without
the ``embeddings`` extra); the plumbing with the model-free hashing embedder."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from outrigger.bus.base import BusMessage, Subscription
from outrigger.bus.memory.bus import MemoryBus
from outrigger.bus.memory.dlq import MemoryDeadLetterQueue
from outrigger.config.load import parse_pipelines
from outrigger.config.settings import WorkerSettings
from outrigger.embeddings import Embedder, HashingEmbedder
from outrigger.engine.envelope import Event
from outrigger.engine.pipeline import PipelineSet, compile_pipelines
from outrigger.engine.steps.embed import VectorTarget
from outrigger.engine.worker import Worker
from outrigger.errors import ConfigError, PermanentError, TransientError
from outrigger.proxy.limits import month_of
from outrigger.storage.memory import MemoryIdempotencyStore
from outrigger.storage.schema import llm_calls
from outrigger.storage.tenants import Tenant
from outrigger.vector.embedded import EmbeddedVectorStore
from tests.gateway_server import SpanCapture
from tests.helpers import wait_until

EXCHANGE = "domain.events"
RESULTS = Subscription("results", EXCHANGE, ("ai.#",))
PIPELINES = """
pipelines:
  - name: ticket-index
    on: {types: ["com.acme.support.TicketCreated"]}
    steps:
      - embed:
          name: index
          text: data.body
          namespace: tickets
          id_path: data.ticket_id
          metadata: {ticket_id: data.ticket_id, channel: data.channel, priority: data.priority}
      - publish:
          type: com.acme.ai.TicketIndexed
          routing_key: ai.ticket.indexed
          data: {ticket_id: data.ticket_id, vector_id: steps.index.id,
                 namespace: steps.index.namespace}
"""
TICKETS = {
    "T-1": "I was charged twice for the same grocery purchase on my debit card.",
    "T-2": "The app logs me out every time I open my statements.",
    "T-3": "How do I update my home address before my new card is posted?",
    "T-4": "My loan application has been pending for three weeks without a decision.",
}


def ticket(ticket_id: str, body: str | None, tenant: str | None = "acme") -> BusMessage:
    data: dict[str, Any] = {"ticket_id": ticket_id, "channel": "email", "priority": 2}
    if body is not None:
        data["body"] = body
    if tenant is not None:
        data["tenant_id"] = tenant
    event = {
        "specversion": "1.0",
        "id": f"ev-{tenant}-{ticket_id}",
        "source": "urn:test",
        "type": "com.acme.support.TicketCreated",
        "data": data,
    }
    return BusMessage(
        json.dumps(event).encode(),
        "support.ticket.created",
        message_id=event["id"],
        content_type="application/cloudevents+json",
    )


def minilm_or_skip() -> Embedder:
    pytest.importorskip("tokenizers", reason="the 'embeddings' extra is not installed")
    from outrigger.embeddings.local import OnnxEmbedder

    try:
        return OnnxEmbedder.minilm()
    except ConfigError as exc:
        pytest.skip(f"the 'embeddings' extra is not installed: {exc}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedVectorStore]:
    opened = EmbeddedVectorStore(tmp_path / "vectors.sqlite3", 384)
    yield opened
    opened.close()


def compiled(target: VectorTarget | None, text: str = PIPELINES) -> PipelineSet:
    return compile_pipelines(parse_pipelines(text, "test"), Path("."), vectors=target)


@dataclass
class Rig:
    bus: MemoryBus
    dlq: MemoryDeadLetterQueue
    worker: Worker

    async def publish(self, *messages: BusMessage) -> None:
        for message in messages:
            await self.bus.publish(message, exchange=EXCHANGE)

    async def settle(self, expected: int) -> None:
        stats = self.worker.stats
        await wait_until(lambda: stats.results + stats.dead_lettered >= expected)

    async def results(self) -> list[dict[str, Any]]:
        out = []
        stream = self.bus.consume(RESULTS, prefetch=1000)
        while await self.bus.depth(RESULTS.queue):
            delivery = await anext(stream)
            out.append(json.loads(delivery.message.body)["data"])
            await delivery.ack()
        return out


@pytest.fixture
async def rig_for() -> AsyncIterator[Any]:
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def make(pipelines: PipelineSet) -> Rig:
        bus = MemoryBus()
        dlq = MemoryDeadLetterQueue(bus)
        sub = Subscription("outrigger.pipelines", EXCHANGE, pipelines.bindings())
        await bus.declare(sub)
        await bus.declare(RESULTS)
        settings = WorkerSettings(max_attempts=2, backoff_initial_s=0, backoff_max_s=0)
        worker = Worker(
            bus, dlq, pipelines, MemoryIdempotencyStore(ttl_s=60), settings, sub, EXCHANGE
        )
        stop = asyncio.Event()
        running.append((stop, asyncio.create_task(worker.run(stop))))
        return Rig(bus, dlq, worker)

    yield make
    for stop, task in running:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_indexed_tickets_are_found_by_meaning(
    rig_for: Any, store: EmbeddedVectorStore
) -> None:
    embedder = minilm_or_skip()
    pipelines = compiled(VectorTarget(embedder, store))
    rig = await rig_for(pipelines)
    await rig.publish(*(ticket(i, body) for i, body in TICKETS.items()))
    await rig.settle(len(TICKETS))
    results = await rig.results()
    assert sorted((r["ticket_id"], r["vector_id"]) for r in results) == [
        (i, i) for i in sorted(TICKETS)
    ]
    assert {r["namespace"] for r in results} == {"tickets.acme"}
    assert store.count("tickets.acme") == len(TICKETS)
    runner = pipelines.pipelines[0].steps[0]
    assert runner.batcher.items == len(TICKETS)
    query = embedder.embed(["a duplicate payment appeared on my card"])[0]
    hits = store.search("tickets.acme", query, k=2)
    assert hits[0].id == "T-1" and hits[0].score > hits[1].score
    payload = hits[0].payload
    assert payload["text"] == TICKETS["T-1"]
    assert (payload["ticket_id"], payload["channel"], payload["priority"]) == ("T-1", "email", 2)
    assert (payload["tenant"], payload["event_id"]) == ("acme", "ev-acme-T-1")
    filtered = store.search("tickets.acme", query, k=4, filter={"ticket_id": "T-3"})
    assert [h.id for h in filtered] == ["T-3"]
    assert results[0]["models"] == [{"name": "embeddings", "version": embedder.model_id}]


async def test_each_tenant_has_its_own_namespace(rig_for: Any, store: EmbeddedVectorStore) -> None:
    embedder = HashingEmbedder(384)
    rig = await rig_for(compiled(VectorTarget(embedder, store)))
    await rig.publish(
        ticket("T-1", TICKETS["T-1"], "acme"),
        ticket("T-9", "globex's private note about a double charge", "globex"),
    )
    await rig.settle(2)
    assert store.count("tickets.acme") == 1 and store.count("tickets.globex") == 1
    query = embedder.embed(["globex's private note about a double charge"])[0]
    assert [h.id for h in store.search("tickets.acme", query, k=5)] == ["T-1"]
    assert [h.id for h in store.search("tickets.globex", query, k=5)] == ["T-9"]


async def test_a_redelivered_event_replaces_its_vector(store: EmbeddedVectorStore) -> None:
    pipeline = compiled(VectorTarget(HashingEmbedder(384), store)).pipelines[0]
    data = {"ticket_id": "T-1", "tenant_id": "acme", "body": "first wording"}
    first = Event("ev-1", "com.acme.support.TicketCreated", "urn:test", data, "structured")
    await pipeline.run(first, "support.ticket.created")
    again = Event("ev-1", first.type, "urn:test", {**data, "body": "second wording"}, "structured")
    await pipeline.run(again, "support.ticket.created")
    assert store.count("tickets.acme") == 1
    assert store.get("tickets.acme", ["T-1"])[0].payload["text"] == "second wording"


async def test_events_without_text_or_tenant_are_dead_lettered(
    rig_for: Any, store: EmbeddedVectorStore
) -> None:
    rig = await rig_for(compiled(VectorTarget(HashingEmbedder(384), store)))
    await rig.publish(
        ticket("T-1", None),
        ticket("T-2", "   "),
        ticket("T-3", "no tenant", tenant=None),
        ticket("T-4", "bad tenant", tenant="Not A Tenant!"),
    )
    await rig.settle(4)
    letters = await rig.dlq.list()
    assert sorted(letter.reason_code for letter in letters) == ["mapping_failed"] * 4
    assert store.count("tickets.acme") == 0


async def test_without_a_vector_store_the_step_is_retried_not_dropped() -> None:
    pipeline = compiled(None).pipelines[0]
    data = {"ticket_id": "T-1", "tenant_id": "acme", "body": "hello"}
    event = Event("ev-1", "com.acme.support.TicketCreated", "urn:test", data, "structured")
    with pytest.raises(TransientError, match="no embedder"):
        await pipeline.run(event, "support.ticket.created")


def test_mismatched_dimensions_are_refused(store: EmbeddedVectorStore) -> None:
    with pytest.raises(ConfigError, match="384-d"):
        VectorTarget(HashingEmbedder(256), store)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("{name: i, text: data.body, namespace: cache}", "reserved for the response cache"),
        ("{name: i, text: data.body, namespace: a.b}", "namespace"),
        ("{name: i, text: 'data..body'}", "not a valid path"),
        ("{name: i, text: data.body, metadata: {text: data.x}}", "reserved"),
        ("{name: i, text: data.body, bogus: 1}", "bogus"),
    ],
)
def test_bad_embed_steps_are_config_errors(step: str, message: str) -> None:
    text = f"""
pipelines:
  - name: p
    on: {{types: ["x"]}}
    steps:
      - embed: {step}
      - publish: {{type: y, routing_key: y}}
"""
    with pytest.raises((ConfigError, ValidationError), match=message):
        parse_pipelines(text, "test")


def runtime_settings(data_dir: Path, **embeddings: Any) -> Any:
    from outrigger.config.settings import Settings

    pipelines = data_dir / "pipelines.yaml"
    pipelines.write_text(PIPELINES)
    return Settings.model_validate(
        {
            "data_dir": data_dir,
            "pipelines_file": pipelines,
            "bus": {"kind": "memory"},
            "embeddings": {"kind": "hashing", **embeddings},
            "vectors": {"kind": "memory"},
            "tenancy": {"tiers": {"enterprise": {}, "none": {"monthly_calls": 0}}},
        }
    )


def ticket_event(ticket_id: str, tenant: str) -> Event:
    data = {"ticket_id": ticket_id, "tenant_id": tenant, "body": f"lost card {ticket_id}"}
    return Event(
        f"ev-{ticket_id}", "com.acme.support.TicketCreated", "urn:test", data, "structured"
    )


async def test_the_runtime_connects_embed_steps_to_the_proxys_store_and_ledger(
    data_dir: Path,
) -> None:
    from outrigger.runtime import build_runtime

    runtime = await build_runtime(runtime_settings(data_dir))
    spans = SpanCapture()
    try:
        proxy = runtime.proxy
        assert proxy is not None and proxy.vectors is not None
        proxy.tenants.create_tenant(Tenant("acme", "Acme", "enterprise"))
        pipeline = runtime.pipelines.pipelines[0]
        event = ticket_event("T-7", "acme")
        await pipeline.run(event, "support.ticket.created", tracer=spans.tracer)
        assert proxy.vectors.count("tickets.acme") == 1
        await proxy.flush()
        (line,) = proxy.ledger.usage("acme", month_of(time.time()))
        assert (line.feature, line.alias, line.calls) == ("ticket-index", "hashing-384", 1)
        assert line.tokens_in > 0
        with proxy.db.engine.connect() as conn:
            (row,) = conn.execute(sa.select(llm_calls.c.trace_id)).all()
    finally:
        await runtime.close()
    (step,) = [s for s in spans.finished() if s.name == "embeddings tickets"]
    assert row.trace_id == f"{step.context.trace_id:032x}"  # the ledger row joins the event


async def test_an_unexpected_store_error_is_retried_for_its_tenant_only(
    store: EmbeddedVectorStore,
) -> None:
    class Flaky:
        dim = store.dim

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def upsert(self, namespace: str, *args: Any) -> None:
            if namespace == "tickets.flaky":
                raise OSError("the disk went away")
            store.upsert(namespace, *args)

    pipeline = compiled(VectorTarget(HashingEmbedder(384), Flaky())).pipelines[0]  # type: ignore[arg-type]
    outcomes = await asyncio.gather(
        pipeline.run(ticket_event("T-1", "acme"), "support.ticket.created"),
        pipeline.run(ticket_event("T-2", "flaky"), "support.ticket.created"),
        return_exceptions=True,
    )
    assert not isinstance(outcomes[0], BaseException)
    assert isinstance(outcomes[1], TransientError) and "disk went away" in str(outcomes[1])
    assert (store.count("tickets.acme"), store.count("tickets.flaky")) == (1, 0)


async def test_a_refused_tenant_fails_alone_and_nothing_unknown_is_embedded(
    data_dir: Path,
) -> None:
    from outrigger.runtime import build_runtime

    runtime = await build_runtime(runtime_settings(data_dir))
    try:
        proxy = runtime.proxy
        assert proxy is not None and proxy.vectors is not None
        proxy.tenants.create_tenant(Tenant("acme", "Acme", "enterprise"))
        proxy.tenants.create_tenant(Tenant("broke", "Broke", "none"))  # no calls a month
        pipeline = runtime.pipelines.pipelines[0]
        outcomes = await asyncio.gather(
            *(
                pipeline.run(ticket_event(t, tenant), "support.ticket.created")
                for t, tenant in (("T-1", "acme"), ("T-2", "broke"), ("T-3", "ghost"))
            ),
            return_exceptions=True,
        )
        assert not isinstance(outcomes[0], BaseException)
        assert isinstance(outcomes[1], PermanentError) and outcomes[1].code == "quota_exceeded"
        assert isinstance(outcomes[2], PermanentError) and outcomes[2].code == "unknown_tenant"
        counts = [proxy.vectors.count(f"tickets.{t}") for t in ("acme", "broke", "ghost")]
        assert counts == [1, 0, 0]
    finally:
        await runtime.close()


async def test_a_worker_with_embed_steps_and_no_embedder_refuses_to_start(
    data_dir: Path,
) -> None:
    from outrigger.runtime import build_runtime

    with pytest.raises(ConfigError, match="embed step"):
        await build_runtime(runtime_settings(data_dir, serve=False))
