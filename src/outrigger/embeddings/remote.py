"""Embeddings from any OpenAI-compatible ``POST /embeddings`` endpoint (OpenAI, Azure
OpenAI's v1 surface, vLLM, Ollama, llama.cpp server, ...), through httpx.

``base_url`` ends before ``/embeddings`` (``https://api.openai.com/v1``). Rows come back
normalised whatever the server does, so they mix with the local embedder's contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from outrigger.embeddings.base import Vectors, l2_normalise
from outrigger.errors import OutriggerError, TransientError
from outrigger.optional import require


class EmbeddingError(OutriggerError):
    """The endpoint refused the request or answered something that is not embeddings."""


class OpenAIEmbedder:
    def __init__(
        self,
        base_url: str,
        model: str,
        dim: int,
        *,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout_s: float = 30.0,
        client: Any = None,
    ) -> None:
        httpx = require("httpx", "embeddings")
        if dim < 1 or batch_size < 1:
            raise ValueError("dim and batch_size must be positive")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._httpx = httpx
        self._client = client or httpx.Client(timeout=timeout_s)
        self._owns_client = client is None
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers = headers
        self._model = model
        self._dim = dim
        self._batch_size = batch_size

    @property
    def model_id(self) -> str:
        return f"openai-compatible:{self._model}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            out[start : start + len(batch)] = self._request(batch)
        return out

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _request(self, batch: list[str]) -> Vectors:
        body = {"model": self._model, "input": batch, "encoding_format": "float"}
        try:
            response = self._client.post(self._url, json=body, headers=self._headers)
        except self._httpx.HTTPError as exc:
            raise TransientError(f"embeddings endpoint unreachable: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"embeddings endpoint answered {response.status_code}")
        if response.status_code != 200:
            raise EmbeddingError(
                f"embeddings endpoint answered {response.status_code}: {response.text[:200]}"
            )
        return self._parse(response.json(), len(batch))

    def _parse(self, payload: Any, expected: int) -> Vectors:
        try:
            rows = sorted(payload["data"], key=lambda item: int(item["index"]))
            matrix = np.array([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"not an embeddings response: {exc}") from exc
        if matrix.shape != (expected, self._dim):
            raise EmbeddingError(
                f"expected {expected} embeddings of dimension {self._dim}, got {matrix.shape}"
            )
        return l2_normalise(matrix)
