"""``outrigger demo --console``: after the demo's events the console is served beside the
demo's worker, with an operator key to sign in with."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import httpx

from outrigger.config.settings import Settings
from outrigger.demo.console import OPERATOR
from outrigger.demo.runner import run_demo
from tests.console.sidecar import free_port


def browse(url: str, key: str, seen: dict[str, str]) -> None:
    with httpx.Client(timeout=30, follow_redirects=True) as client:
        form = client.get(url + "sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        client.post(url + "sign-in", data={"csrf_token": token.group(1), "key": key})
        for page in ("", "dead-letters", "pipelines"):
            seen[page] = client.get(url + page).text


async def test_the_demo_serves_its_console_until_stopped(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, bus={"kind": "sqlite"}, telemetry={"metrics_port": 0},
        console={"operator_tenant": OPERATOR},
        gateway={"enabled": True, "host": "127.0.0.1", "port": free_port()},
    )  # type: ignore[arg-type]  # fmt: skip
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    seen: dict[str, str] = {}
    announced: list[str] = []

    def announce(url: str, key: str) -> None:
        announced.append(url)

        def visit() -> None:
            try:
                browse(url, key, seen)
            finally:
                loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=visit, daemon=True).start()

    report = await run_demo(settings, 40, malformed_rate=0.1, tickets=0, console=announce,
                            console_stop=stop)  # fmt: skip
    assert announced == [f"http://127.0.0.1:{settings.gateway.port}/console/"]
    assert report.results == report.valid_events and report.dead_lettered == 4
    assert "this process's worker" in seen[""]  # the demo's worker is counted
    assert f'id="letter-count">{report.dead_lettered} waiting' in seen["dead-letters"]
    assert "credit-risk-assessment" in seen["pipelines"]
