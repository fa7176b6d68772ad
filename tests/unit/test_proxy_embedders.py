"""Which embedders the proxy opens: the served one (``/v1/embeddings``, ``embed`` steps)
computes in float by default; the cache's own runs integer products, and they are one
embedder when both compute the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from outrigger.config.settings import Settings
from outrigger.proxy.service import open_embedders

pytest.importorskip("tokenizers", reason="extra 'embeddings'")

MINILM = "all-MiniLM-L6-v2-int8"


def settings(tmp_path: Path, **sections: Any) -> Settings:
    return Settings.model_validate({"data_dir": tmp_path, **sections})


def ids(pair: tuple[Any, ...]) -> tuple[str | None, ...]:
    return tuple(None if e is None else e.model_id for e in pair)


def test_the_cache_gets_its_own_integer_embedder(tmp_path: Path) -> None:
    served, cached = open_embedders(settings(tmp_path, cache={"enabled": True}))
    assert ids((served, cached)) == (MINILM, f"{MINILM}+int8-matmul")


def test_one_embedder_when_both_compute_alike(tmp_path: Path) -> None:
    same = settings(tmp_path, cache={"enabled": True, "embedding_compute": "float"})
    served, cached = open_embedders(same)
    assert served is cached and ids((served,)) == (MINILM,)


def test_nothing_loaded_that_is_not_wanted(tmp_path: Path) -> None:
    assert ids(open_embedders(settings(tmp_path), serves=False)) == (None, None)
    assert ids(open_embedders(settings(tmp_path, embeddings={"serve": False}))) == (None, None)
    cache_only = settings(tmp_path, cache={"enabled": True}, embeddings={"serve": False})
    assert ids(open_embedders(cache_only)) == (None, f"{MINILM}+int8-matmul")


def test_remote_and_hashing_embedders_are_shared(tmp_path: Path) -> None:
    hashing = settings(tmp_path, cache={"enabled": True}, embeddings={"kind": "hashing"})
    served, cached = open_embedders(hashing)
    assert served is cached and ids((served,)) == ("hashing-384",)
