"""Which embedder to build; mounted by the settings tree (``Settings.embeddings``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from outrigger.embeddings.base import Embedder
from outrigger.secrets import file_or_env


def default_compiled_dir() -> Path:
    """``$XDG_CACHE_HOME/outrigger/onnx``, else ``~/.cache/outrigger/onnx`` (a user without
    a home directory: under the temporary directory)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            base = str(Path(tempfile.gettempdir()) / "outrigger-cache")
    return Path(base) / "outrigger" / "onnx"


class EmbeddingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``local``: all-MiniLM-L6-v2 int8 in process (extra ``embeddings``); ``openai``: an
    #: OpenAI-compatible endpoint; ``hashing``: a model-free stand-in for tests.
    kind: Literal["local", "openai", "hashing"] = "local"
    #: Load the embedder at start-up for ``/v1/embeddings`` and the ``embed`` step (a
    #: worker without ``embed`` steps never loads it; the cache loads it whenever it is
    #: enabled). Without the extra, those are simply off.
    serve: bool = True
    batch_size: int = Field(default=32, ge=1, le=4096)
    threads: int = Field(default=1, ge=1, le=64)  # local: ONNX Runtime intra-op threads
    #: local: ``float`` runs the model file as it is; ``int8`` runs its constant-weight
    #: products on integers (VNNI/AVX2), one text per call, about 1.7x faster for a short
    #: text but slower in bulk, vectors within ~0.02 cosine of ``float``; its model id
    #: gets the suffix ``+int8-matmul``.
    compute: Literal["int8", "float"] = "float"
    #: local, ``int8``: where the integer rewrite of the model is kept between starts (it
    #: takes seconds to compute); default ``$XDG_CACHE_HOME/outrigger/onnx`` (else
    #: ``~/.cache/outrigger/onnx``). Unwritable: computed at each start.
    compiled_dir: Path = Field(default_factory=default_compiled_dir)
    model_path: Path | None = None  # local: another BERT-style ONNX encoder ...
    tokenizer_path: Path | None = None  # ... and its tokenizer.json
    base_url: str | None = None  # openai: e.g. https://api.openai.com/v1
    model: str = "text-embedding-3-small"
    dim: int = Field(default=384, ge=1)  # openai/hashing; local reads it from the model
    api_key_file: Path | None = None  # a mounted secret
    api_key_env: str | None = None  # development only
    timeout_s: float = Field(default=30.0, gt=0)
    #: openai: USD per million input tokens, for the ledger (local embeddings cost 0).
    input_price: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> EmbeddingSettings:
        if self.kind == "openai" and not self.base_url:
            raise ValueError("embeddings of kind 'openai' need base_url")
        if (self.model_path is None) != (self.tokenizer_path is None):
            raise ValueError("model_path and tokenizer_path go together")
        return self

    def api_key(self) -> str | None:
        return file_or_env(self.api_key_file, self.api_key_env, "embeddings.api_key")


def open_embedder(settings: EmbeddingSettings) -> Embedder:
    if settings.kind == "hashing":
        from outrigger.embeddings.memory import HashingEmbedder

        return HashingEmbedder(settings.dim)
    if settings.kind == "openai":
        from outrigger.embeddings.remote import OpenAIEmbedder

        assert settings.base_url is not None
        return OpenAIEmbedder(
            settings.base_url,
            settings.model,
            settings.dim,
            api_key=settings.api_key(),
            batch_size=settings.batch_size,
            timeout_s=settings.timeout_s,
        )
    from outrigger.embeddings.local import OnnxEmbedder

    if settings.model_path is not None and settings.tokenizer_path is not None:
        return OnnxEmbedder(
            settings.model_path,
            settings.tokenizer_path,
            model_id=f"onnx:{settings.model_path.name}",
            batch_size=settings.batch_size,
            threads=settings.threads,
            compute=settings.compute,
            compiled_dir=settings.compiled_dir,
        )
    return OnnxEmbedder.minilm(
        batch_size=settings.batch_size,
        threads=settings.threads,
        compute=settings.compute,
        compiled_dir=settings.compiled_dir,
    )
