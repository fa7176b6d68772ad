"""The integer rewrite of the local encoder is kept between starts: read back when its name
(source digest, library versions) and content digest match, recomputed otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")

from outrigger.embeddings import requantize
from outrigger.embeddings.settings import EmbeddingSettings, default_compiled_dir


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Stands in for the 5-second rewrite; records each source it was asked to rewrite."""
    calls: list[Path] = []

    def rewrite(source: Path) -> bytes:
        calls.append(source)
        return b"rewritten:" + source.read_bytes()

    monkeypatch.setattr(requantize, "integer_matmul_model", rewrite)
    return calls


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"weights v1")
    return path


def test_a_second_start_reads_the_kept_rewrite(
    source: Path, tmp_path: Path, computed: list[Path]
) -> None:
    kept = tmp_path / "kept"
    first = requantize.cached_integer_matmul_model(source, kept)
    second = requantize.cached_integer_matmul_model(source, kept)
    assert first == second == b"rewritten:weights v1"
    assert computed == [source]
    assert sorted(p.suffix for p in kept.iterdir()) == [".onnx", ".sha256"]


def test_another_source_file_gets_its_own_rewrite(
    source: Path, tmp_path: Path, computed: list[Path]
) -> None:
    kept = tmp_path / "kept"
    requantize.cached_integer_matmul_model(source, kept)
    source.write_bytes(b"weights v2")
    assert requantize.cached_integer_matmul_model(source, kept) == b"rewritten:weights v2"
    assert len(computed) == 2
    assert len(list(kept.glob("*.onnx"))) == 2


def test_a_damaged_kept_file_is_recomputed_and_replaced(
    source: Path, tmp_path: Path, computed: list[Path]
) -> None:
    kept = tmp_path / "kept"
    requantize.cached_integer_matmul_model(source, kept)
    (model,) = kept.glob("*.onnx")
    model.write_bytes(b"truncated")
    assert requantize.cached_integer_matmul_model(source, kept) == b"rewritten:weights v1"
    assert len(computed) == 2
    assert model.read_bytes() == b"rewritten:weights v1"


def test_a_file_in_place_of_the_directory_only_means_computing_each_time(
    source: Path, tmp_path: Path, computed: list[Path]
) -> None:
    """Writable or not (root writes anyway), a directory that cannot be made is no error."""
    blocked = tmp_path / "blocked"
    blocked.write_text("not a directory")
    for _ in range(2):
        assert requantize.cached_integer_matmul_model(source, blocked) == b"rewritten:weights v1"
    assert len(computed) == 2


def test_no_directory_keeps_nothing(source: Path, computed: list[Path]) -> None:
    requantize.cached_integer_matmul_model(source, None)
    requantize.cached_integer_matmul_model(source, None)
    assert len(computed) == 2


def test_the_default_directory_follows_xdg_cache_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_compiled_dir() == tmp_path / "outrigger" / "onnx"
    assert EmbeddingSettings().compiled_dir == tmp_path / "outrigger" / "onnx"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_compiled_dir() == tmp_path / "home" / ".cache" / "outrigger" / "onnx"


def test_a_digest_the_caller_checked_names_the_rewrite_without_hashing_again(
    source: Path, tmp_path: Path, computed: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from outrigger.inference.onnx import sha256_file

    digest = sha256_file(source)
    kept = tmp_path / "kept"
    requantize.cached_integer_matmul_model(source, kept)

    def hashed(path: Path) -> str:
        raise AssertionError(f"{path} hashed again")

    monkeypatch.setattr(requantize, "sha256_file", hashed)
    assert requantize.cached_integer_matmul_model(source, kept, digest) == b"rewritten:weights v1"
    assert computed == [source]  # the same name as the hashed one: read back
