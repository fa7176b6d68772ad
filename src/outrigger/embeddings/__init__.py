"""Text embeddings: the ``Embedder`` Protocol, the local ONNX model, remote endpoints."""

from outrigger.embeddings.base import Embedder, Vectors, l2_normalise
from outrigger.embeddings.memory import HashingEmbedder
from outrigger.embeddings.settings import EmbeddingSettings, open_embedder

__all__ = [
    "Embedder",
    "EmbeddingSettings",
    "HashingEmbedder",
    "Vectors",
    "l2_normalise",
    "open_embedder",
]
