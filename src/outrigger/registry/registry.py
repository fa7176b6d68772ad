"""The model registry: immutable semantic versions, movable aliases, rollback, pruning.

Layout in the store, per model name::

    <name>/versions/<x.y.z>/model.onnx        immutable once written
    <name>/versions/<x.y.z>/metadata.json     name, version, sha256, signature, metrics ...
    <name>/versions/<x.y.z>/MODEL_CARD.md     optional
    <name>/versions/<x.y.z>/holdout.csv       optional: the evaluation set of the gate
    <name>/aliases.json                       {"stable": ["1.0.0", "2.1.3"], ...} (history,
                                              newest last: rollback pops the newest)
    <name>/log.jsonl                          every publish/promote/rollback/prune/force
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outrigger.errors import OutriggerError
from outrigger.inference.onnx import OnnxModel
from outrigger.registry.base import BlobExists, BlobStore

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
ALIAS = re.compile(r"^[a-z][a-z0-9_-]*$")
FILES = ("model.onnx", "metadata.json", "MODEL_CARD.md", "holdout.csv")


class RegistryError(OutriggerError):
    """A registry operation was refused; the message says why."""


def semver_key(version: str) -> tuple[int, int, int]:
    match = SEMVER.match(version)
    if not match:
        raise RegistryError(f"not a semantic version (x.y.z): {version!r}")
    major, minor, patch = (int(x) for x in match.groups())
    return major, minor, patch


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    sha256: str
    metadata: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


class Registry:
    def __init__(
        self, store: BlobStore, *, keep: int = 3, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.keep = keep
        self._clock = clock

    # -- reading ------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted({k.split("/")[0] for k in self.store.list("") if "/versions/" in k})

    def versions(self, name: str) -> list[str]:
        keys = self.store.list(f"{name}/versions/")
        found = {k.split("/")[2] for k in keys if k.endswith("/metadata.json")}
        return sorted(found, key=semver_key)

    def get(self, name: str, version: str) -> ModelVersion:
        raw = self.store.read(f"{name}/versions/{version}/metadata.json")
        if raw is None:
            raise RegistryError(
                f"{name}@{version} is not in the registry ({self.store.describe()})"
            )
        meta = json.loads(raw)
        return ModelVersion(name, version, str(meta["sha256"]), meta)

    def aliases(self, name: str) -> dict[str, list[str]]:
        raw = self.store.read(f"{name}/aliases.json")
        return json.loads(raw) if raw else {}

    def resolve(self, name: str, ref: str) -> str:
        """A version for ``ref`` (a version, or an alias)."""
        if SEMVER.match(ref):
            self.get(name, ref)
            return ref
        history = self.aliases(name).get(ref)
        if not history:
            raise RegistryError(f"{name} has no alias {ref!r}")
        return history[-1]

    def file(self, name: str, version: str, filename: str) -> bytes | None:
        return self.store.read(f"{name}/versions/{version}/{filename}")

    def log(self, name: str) -> list[dict[str, Any]]:
        raw = self.store.read(f"{name}/log.jsonl") or b""
        return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]

    # -- writing ------------------------------------------------------------------------

    def publish(self, source: Path, name: str, version: str) -> ModelVersion:
        """Copy a model (a directory with model.onnx, or the .onnx file) in as ``version``."""
        if not NAME.match(name):
            raise RegistryError(f"not a valid model name: {name!r}")
        semver_key(version)
        folder = source if source.is_dir() else source.parent
        model_file = source / "model.onnx" if source.is_dir() else source
        if not model_file.is_file():
            raise RegistryError(f"no model file at {model_file}")
        if self.store.read(f"{name}/versions/{version}/metadata.json") is not None:
            raise RegistryError(f"{name}@{version} already exists; versions are immutable")
        blob = model_file.read_bytes()
        meta = self._metadata(folder, name, version, blob)
        prefix = f"{name}/versions/{version}/"
        try:
            self.store.write(prefix + "model.onnx", blob)
            for extra in ("MODEL_CARD.md", "holdout.csv"):
                if (folder / extra).is_file():
                    self.store.write(prefix + extra, (folder / extra).read_bytes())
            # metadata last: a version exists only once all its files are in
            self.store.write(prefix + "metadata.json", _dump(meta))
        except BlobExists as exc:
            raise RegistryError(f"{name}@{version} already exists; versions are immutable") from exc
        self._append_log(name, {"action": "publish", "version": version, "sha256": meta["sha256"]})
        self.prune(name)
        return ModelVersion(name, version, meta["sha256"], meta)

    def _metadata(self, folder: Path, name: str, version: str, blob: bytes) -> dict[str, Any]:
        meta_file = folder / "metadata.json"
        meta: dict[str, Any] = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        sha = hashlib.sha256(blob).hexdigest()
        if meta.get("sha256") not in (None, sha):
            raise RegistryError(f"{folder}: model.onnx does not match its metadata sha256")
        meta.update(name=name, version=version, sha256=sha)
        meta.setdefault("signature", _signature(blob))
        return meta

    def set_alias(self, name: str, alias: str, version: str, action: str, **extra: Any) -> None:
        if not ALIAS.match(alias):
            raise RegistryError(f"not a valid alias: {alias!r}")
        aliases = self.aliases(name)
        history = aliases.setdefault(alias, [])
        previous = history[-1] if history else None
        if previous != version:
            history.append(version)
        self.store.write(f"{name}/aliases.json", _dump(aliases), overwrite=True)
        self._append_log(
            name,
            {"action": action, "alias": alias, "version": version, "previous": previous, **extra},
        )

    def rollback(self, name: str, alias: str = "stable") -> tuple[str, str]:
        """Point ``alias`` back at the version it had before; returns (from, to)."""
        aliases = self.aliases(name)
        history = aliases.get(alias, [])
        if len(history) < 2:
            raise RegistryError(f"{name}:{alias} has no earlier version to roll back to")
        current = history.pop()
        target = history[-1]
        self.store.write(f"{name}/aliases.json", _dump(aliases), overwrite=True)
        self._append_log(
            name, {"action": "rollback", "alias": alias, "from": current, "to": target}
        )
        return current, target

    def prune(self, name: str) -> list[str]:
        """Keep the newest ``keep`` versions plus those aliases point (or would roll back) to."""
        versions = self.versions(name)
        # An alias's version and the one it would roll back to are never pruned.
        protected = {v for h in self.aliases(name).values() for v in h[-2:]}
        removed = [v for v in versions[: -self.keep] if v not in protected] if self.keep else []
        for version in removed:
            for key in self.store.list(f"{name}/versions/{version}/"):
                if not key.endswith("metadata.json"):
                    self.store.delete(key)
            self.store.delete(f"{name}/versions/{version}/metadata.json")
        if removed:
            self._append_log(name, {"action": "prune", "versions": removed})
        return removed

    def _append_log(self, name: str, entry: dict[str, Any]) -> None:
        key = f"{name}/log.jsonl"
        line = json.dumps({"at": round(self._clock(), 3), **entry}, sort_keys=True) + "\n"
        self.store.write(key, (self.store.read(key) or b"") + line.encode(), overwrite=True)


def load_version(registry: Registry, name: str, version: str) -> OnnxModel:
    """``name@version`` from the registry, loaded with ONNX Runtime (sha256 checked against
    its metadata, which also gives the model its version)."""
    blob = registry.file(name, version, "model.onnx")
    meta = registry.file(name, version, "metadata.json")
    if blob is None or meta is None:
        raise RegistryError(f"{name}@{version} is incomplete in the registry")
    with tempfile.TemporaryDirectory(prefix="outrigger-model-") as tmp:
        (Path(tmp) / "model.onnx").write_bytes(blob)
        (Path(tmp) / "metadata.json").write_bytes(meta)
        return OnnxModel.load(Path(tmp), name=name)


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _signature(blob: bytes) -> dict[str, Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    return {
        "inputs": [
            {"name": i.name, "type": i.type, "shape": list(i.shape)} for i in session.get_inputs()
        ],
        "outputs": [
            {"name": o.name, "type": o.type, "shape": list(o.shape)} for o in session.get_outputs()
        ],
    }
