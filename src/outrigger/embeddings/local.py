"""Sentence embeddings in process: a BERT-style ONNX encoder, mean pooling, L2 norm.

The default is all-MiniLM-L6-v2 with int8 weights (384 dimensions, ~23 MB) run by ONNX
Runtime and tokenised by the ``tokenizers`` library: no PyTorch, nothing downloaded.
Texts are embedded in batches of similar length so that padding costs little.
``compute="int8"`` runs the products with constant weights on integers (see
``requantize.py``): activations are then quantised per call, over the whole batch, so texts
are embedded one at a time to keep a text's vector independent of its neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from outrigger.embeddings.base import Vectors, l2_normalise
from outrigger.embeddings.files import MINILM_INT8_ONNX, MINILM_TOKENIZER, verified
from outrigger.embeddings.requantize import cached_integer_matmul_model
from outrigger.optional import require

MINILM_ID = "all-MiniLM-L6-v2-int8"
#: ``int8``: integer products for constant weights (faster; cosine ~0.99 with ``float``).
Compute = Literal["int8", "float"]
INT8_SUFFIX = "+int8-matmul"


class OnnxEmbedder:
    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        *,
        model_id: str,
        max_length: int = 256,
        batch_size: int = 32,
        threads: int = 1,
        compute: Compute = "float",
        compiled_dir: Path | None = None,
        model_sha256: str | None = None,
    ) -> None:
        """``model_sha256``: the model file's SHA-256 when the caller has just checked it
        (it names the kept integer rewrite; without it the file is hashed again)."""
        if batch_size < 1 or max_length < 2:
            raise ValueError("batch_size must be >= 1 and max_length >= 2")
        tokenizers = require("tokenizers", "embeddings")
        self._tokenizer: Any = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        model: str | bytes = str(model_path)
        if compute == "int8":
            model = cached_integer_matmul_model(model_path, compiled_dir, model_sha256)
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._model_id = model_id if compute == "float" else f"{model_id}{INT8_SUFFIX}"
        self._batch_size = batch_size if compute == "float" else 1
        self._dim = int(self._session.get_outputs()[0].shape[-1])

    @classmethod
    def minilm(
        cls,
        *,
        batch_size: int = 32,
        threads: int = 1,
        compute: Compute = "float",
        check: bool = True,
        compiled_dir: Path | None = None,
    ) -> OnnxEmbedder:
        """all-MiniLM-L6-v2 int8 from the installed packages (SHA-256 checked by default)."""
        model = MINILM_INT8_ONNX.locate()
        tokenizer = MINILM_TOKENIZER.locate()
        checked = MINILM_INT8_ONNX.sha256 if check else None
        if check:
            verified(model, MINILM_INT8_ONNX.sha256)
            verified(tokenizer, MINILM_TOKENIZER.sha256)
        return cls(
            model,
            tokenizer,
            model_id=MINILM_ID,
            batch_size=batch_size,
            threads=threads,
            compute=compute,
            compiled_dir=compiled_dir,
            model_sha256=checked,
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._embed_batch([texts[i] for i in rows])
        return out

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model reads for ``texts`` (special tokens included, after truncation,
        padding excluded): the usage an embeddings call reports."""
        encodings = self._tokenizer.encode_batch(list(texts))
        return int(sum(sum(e.attention_mask) for e in encodings))

    def _embed_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, NDArray[np.int64]] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        return l2_normalise(mean_pool(hidden, mask))


def mean_pool(hidden: NDArray[np.float32], mask: NDArray[np.int64]) -> NDArray[np.float32]:
    """The average of the token vectors the attention mask keeps (padding excluded)."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled: NDArray[np.float32] = (summed / np.maximum(weights.sum(axis=1), 1e-9)).astype(
        np.float32
    )
    return pooled
