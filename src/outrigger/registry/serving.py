"""Registry models in the worker: load by version or alias, follow alias changes live.

``RegistryLoader`` resolves a pipelines file's registry model (its ``ref``, or the
``OUTRIGGER_MODELS__<NAME>`` pin) to an exact version and loads it with ONNX Runtime.
``ModelWatcher`` polls the registry and hot-swaps a model into its score steps when the alias
moves (a promotion or a rollback): no restart, no dropped events, and every result names the
version that actually scored it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from outrigger.config.pipelines import ModelSpec
from outrigger.config.settings import Settings
from outrigger.engine.pipeline import PipelineSet, load_onnx
from outrigger.errors import ConfigError
from outrigger.inference.base import Scorer
from outrigger.registry.base import BlobStore
from outrigger.registry.directory import DirectoryBlobStore
from outrigger.registry.registry import Registry, load_version

log = logging.getLogger("outrigger.registry")


def open_store(settings: Settings) -> BlobStore:
    cfg = settings.registry
    if cfg.kind == "s3":
        from outrigger.registry.s3 import S3BlobStore

        if not cfg.s3_bucket:
            raise ConfigError("registry.s3_bucket is required for an S3 registry")
        return S3BlobStore(cfg.s3_bucket, cfg.s3_prefix, endpoint_url=cfg.s3_endpoint_url)
    return DirectoryBlobStore(settings.registry_path())


def open_registry(settings: Settings) -> Registry:
    return Registry(open_store(settings), keep=settings.registry.keep)


@dataclass
class RegistryLoader:
    registry: Registry
    settings: Settings
    refs: dict[str, tuple[str, str]] = field(default_factory=dict)  # file name -> (model, ref)
    loaded: dict[str, str] = field(default_factory=dict)  # file name -> loaded version

    def __call__(self, name: str, spec: ModelSpec, base_dir: Path) -> Scorer:
        if spec.registry is None:
            return load_onnx(name, spec, base_dir)
        ref = self.settings.model_pin(name) or spec.ref
        version = self.registry.resolve(spec.registry, ref)
        self.refs[name] = (spec.registry, ref)
        self.loaded[name] = version
        log.info("model %s: %s@%s (ref %s)", name, spec.registry, version, ref)
        return load_version(self.registry, spec.registry, version)


@dataclass
class ModelWatcher:
    loader: RegistryLoader
    pipelines: PipelineSet
    poll_s: float
    on_swap: Callable[[str, str], None] | None = None  # (model, version), e.g. metrics

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception as exc:  # keep serving the loaded model
                log.warning("model registry check failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)

    async def check(self) -> list[str]:
        """Swap every model whose ref now resolves to another version; returns the swaps."""
        swaps = []
        for name, (model, ref) in self.loader.refs.items():
            version = await asyncio.to_thread(self.loader.registry.resolve, model, ref)
            if version == self.loader.loaded.get(name):
                continue
            new = await asyncio.to_thread(load_version, self.loader.registry, model, version)
            for runner in self.pipelines.runners(name):
                runner.swap(new)
            log.info(
                "model %s: switched %s -> %s (ref %s)",
                name,
                self.loader.loaded.get(name),
                version,
                ref,
            )
            self.loader.loaded[name] = version
            if self.on_swap is not None:
                self.on_swap(name, version)
            swaps.append(f"{name}@{version}")
        return swaps
