"""Large requests are screened and pseudonymised off the event loop; small ones inline.

A legal 1 MB chat body kept the loop busy for more than a second in the regex screens,
stalling every other request of the gateway (the hostile probe's item 8)."""

from __future__ import annotations

import threading
from typing import Any

from outrigger.config.guard import GuardSettings
from outrigger.guard.injection import InjectionDetector, Verdict
from outrigger.llm.types import ChatRequest
from outrigger.privacy import PrivacyConfig, PrivacyPolicy, RegexDetector
from outrigger.proxy.context import CallContext, Completion, Reply
from outrigger.proxy.guard_step import GuardStep
from outrigger.proxy.offload import OFFLOAD_CHARS
from outrigger.proxy.privacy_step import PrivacyStep
from outrigger.storage.tenants import Tenant
from outrigger.telemetry.metrics import Metrics


def context(text: str) -> CallContext:
    request = ChatRequest("chat-default", [{"role": "user", "content": text}])
    return CallContext(Tenant("acme", "Acme", "standard"), "chat", request)


async def answer(_: CallContext) -> Reply:
    return Completion({"choices": [{"index": 0, "message": {"content": "ok"}}]})


class ThreadNoting(InjectionDetector):
    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def screen(self, text: str) -> Verdict:
        self.threads.append(threading.get_ident())
        return super().screen(text)


class ThreadNotingDetector(RegexDetector):
    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def detect(self, text: str, *args: Any, **kwargs: Any) -> Any:
        self.threads.append(threading.get_ident())
        return super().detect(text, *args, **kwargs)


async def test_the_injection_screen_of_a_large_request_runs_off_the_loop() -> None:
    detector = ThreadNoting()
    step = GuardStep(GuardSettings(), detector, Metrics())
    loop_thread = threading.get_ident()
    await step(context("Tell me about refunds. " * 10), answer)
    await step(context("Tell me about refunds. " * (OFFLOAD_CHARS // 10)), answer)
    small, large = detector.threads
    assert small == loop_thread
    assert large != loop_thread


async def test_pseudonymising_a_large_request_runs_off_the_loop() -> None:
    detector = ThreadNotingDetector()
    config = PrivacyConfig(default=PrivacyPolicy(mode="fast"))
    step = PrivacyStep(config, {"fast": detector}, Metrics())
    loop_thread = threading.get_ident()
    await step(context("write to asha@example.org"), answer)
    await step(context("write to asha@example.org " * (OFFLOAD_CHARS // 10)), answer)
    assert detector.threads[0] == loop_thread
    assert detector.threads[-1] != loop_thread
