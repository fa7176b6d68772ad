"""``outrigger cache purge|count``: a tenant's cached LLM answers in the configured store."""

from __future__ import annotations

import typer

from outrigger.cache.semantic import namespace_of
from outrigger.cli.common import fail, load_settings, out
from outrigger.vector.base import VectorStore
from outrigger.vector.settings import open_vector_store

app = typer.Typer(help="The LLM response cache (per tenant).", no_args_is_help=True)


def _store() -> VectorStore:
    settings = load_settings()
    return open_vector_store(
        settings.vectors, settings.embeddings.dim, settings.data_dir, indexed_fields=("fp", "sem")
    )


def _namespace(tenant: str) -> str:
    try:
        return namespace_of(tenant)
    except ValueError as exc:
        fail(f"tenant {tenant!r}: {exc}")


@app.command("count")
def count(tenant: str = typer.Option(..., "--tenant", help="Whose entries.")) -> None:
    """How many entries a tenant's cache holds (answers, and the exact-key aliases of
    served semantic hits)."""
    store = _store()
    try:
        print(store.count(_namespace(tenant)))
    finally:
        store.close()


@app.command("purge")
def purge(tenant: str = typer.Option(..., "--tenant", help="Whose entries to delete.")) -> None:
    """Delete every cached answer of one tenant (no other tenant's)."""
    store = _store()
    try:
        namespace = _namespace(tenant)
        deleted = store.count(namespace)
        store.delete_all(namespace)
    finally:
        store.close()
    out.print(f"deleted {deleted} cache entries of tenant {tenant}")


@app.command("optimize")
def optimize(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant (default all)."),
) -> None:
    """Build the HNSW indexes of in-process Qdrant's shards (vectors.kind qdrant with a
    path). Run it while the gateway is stopped: one process opens a shard at a time, and
    the engine holds the Python interpreter while it works. Other stores index as they go."""
    store = _store()
    try:
        build = getattr(store, "optimize", None)
        if build is None:
            out.print("the configured vector store builds its indexes as it writes: nothing to do")
            return
        with out.status("building indexes"):
            done = build(_namespace(tenant) if tenant else None)
    finally:
        store.close()
    out.print(f"optimized {len(done)} shard(s)" + (f": {', '.join(done)}" if done else ""))
