"""Vector stores: one Protocol, an in-memory and an embedded default, Qdrant and pgvector."""

from outrigger.vector.base import Filter, VectorHit, VectorRecord, VectorStore
from outrigger.vector.embedded import EmbeddedVectorStore
from outrigger.vector.memory import MemoryVectorStore
from outrigger.vector.settings import VectorStoreSettings, open_vector_store

__all__ = [
    "EmbeddedVectorStore",
    "Filter",
    "MemoryVectorStore",
    "VectorHit",
    "VectorRecord",
    "VectorStore",
    "VectorStoreSettings",
    "open_vector_store",
]
