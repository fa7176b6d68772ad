"""Run the real gateway (uvicorn + the FastAPI app + the proxy) in a thread, on a free port."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from outrigger.config.settings import Settings
from outrigger.engine.pipeline import PipelineSet
from outrigger.gateway.app import create_app
from outrigger.gateway.server import HttpServer, server_config
from outrigger.proxy.service import LlmProxy, build_proxy

T = TypeVar("T")


def llm_settings(data_dir: Path, upstreams: dict[str, str], **extra: Any) -> Settings:
    """Settings whose alias ``chat-default`` falls back through ``upstreams`` in order
    (name -> base URL ending in /v1), each its own provider and deployment."""
    providers = {n: {"kind": "openai", "base_url": u, "timeout_s": 5} for n, u in upstreams.items()}
    deployments = {
        n: {"provider": n, "model": f"{n}-model", "input_price": 1.0, "output_price": 2.0}
        for n in upstreams
    }
    llm: dict[str, Any] = {
        "providers": providers,
        "deployments": deployments,
        "aliases": {"chat-default": list(upstreams)},
        "retry": {"attempts": 2, "backoff_initial_s": 0.01, "backoff_max_s": 0.02},
    }
    llm.update(extra.pop("llm", {}))
    return Settings.model_validate(
        {
            "data_dir": data_dir,
            "llm": llm,
            "tenancy": {"auth_cache_s": 0, **extra.pop("tenancy", {})},
            "gateway": {"flush_interval_s": 0.05},
            **extra,
        }
    )


class SpanCapture:
    """An SDK tracer whose finished spans are kept in memory, for trace assertions."""

    def __init__(self) -> None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")

    def finished(self, at_least: int = 1, timeout_s: float = 5) -> list[Any]:
        """The finished spans, once ``at_least`` are there (spans end off the request)."""
        deadline = time.monotonic() + timeout_s
        while len(self.exporter.get_finished_spans()) < at_least and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.exporter.get_finished_spans())


TRACE_ID, PARENT_ID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def joins_the_callers_trace(span: Any) -> bool:
    """Whether ``span`` is a child of the span ``TRACEPARENT`` names."""
    return (
        f"{span.context.trace_id:032x}" == TRACE_ID
        and span.parent is not None
        and f"{span.parent.span_id:016x}" == PARENT_ID
    )


class GatewayServer:
    def __init__(self, settings: Settings, proxy: LlmProxy | None = None) -> None:
        self.proxy = proxy or build_proxy(settings)
        app = create_app(PipelineSet([]), None, self.proxy.metrics, self.proxy)
        # The gateway's own uvicorn config (its header limit included), on a free port.
        local = settings.gateway.model_copy(update={"host": "127.0.0.1", "port": 0})
        self.server = HttpServer(server_config(app, local), local)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        self.server.run()  # on the configured loop (uvloop), as `outrigger gateway` runs

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(20)


def wait_for_rows(
    read: Callable[[], list[T]], count: int, what: str, timeout_s: float = 10
) -> list[T]:
    """``read()`` once it holds at least ``count`` rows (the ledger and audit writers flush
    in the background, each on its own schedule)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = read()
        if len(rows) >= count:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} {what}")
