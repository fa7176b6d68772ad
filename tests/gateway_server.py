"""Run the real gateway (uvicorn + the FastAPI app + the proxy) in a thread, on a free port."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from outrigger.config.settings import Settings
from outrigger.events.pipeline import PipelineSet
from outrigger.gateway.app import create_app
from outrigger.proxy.service import LlmProxy, build_proxy


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


class GatewayServer:
    def __init__(self, settings: Settings, proxy: LlmProxy | None = None) -> None:
        self.proxy = proxy or build_proxy(settings)
        app = create_app(PipelineSet([]), None, self.proxy.metrics, self.proxy)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
            loop="uvloop", http="httptools",
        )  # fmt: skip
        self.server = uvicorn.Server(config)
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
