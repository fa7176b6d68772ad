"""The typed context one call carries through the proxy's steps, and what a step returns."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry.context import Context

from outrigger.errors import OutriggerError
from outrigger.llm.types import ChatRequest, Usage
from outrigger.storage.tenants import Tenant

CacheStatus = Literal["hit", "miss", "bypass"]
CallStatus = Literal["ok", "fallback", "invalid", "error"]


@dataclass
class CallContext:
    tenant: Tenant
    feature: str
    request: ChatRequest
    trace_id: str | None = None
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.perf_counter)
    started_ns: int = field(default_factory=time.time_ns)  # wall clock, for the trace span
    #: The caller's trace context (W3C ``traceparent`` at the gateway); None: the current one.
    parent: Context | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    cache: CacheStatus = "bypass"
    #: The feature's cache policy as the ``X-Outrigger-Cache-Policy`` header says it.
    cache_policy: str | None = None
    #: When no deployment can answer: the configured graceful answer (gateway) or an error
    #: (pipelines, which retry the event instead).
    fallback_answer: bool = True
    #: ``X-Outrigger-Cache: bypass``: neither read nor write the response cache.
    cache_bypass: bool = False
    #: The end user the caller says the request is for (OpenAI's ``user`` field); it is not
    #: sent to the provider.
    end_user: str | None = None
    #: Filled in by the steps as the call goes on.
    alias: str = ""
    deployment: str | None = None
    model: str | None = None
    status: CallStatus = "ok"
    usage: Usage | None = None
    prompt_tokens_estimate: int = 0
    #: What the call cost (set when it is recorded, before the finishers run).
    cost_usd: float = 0.0
    response_text: str = ""
    #: The answer as the provider gave it (placeholders, not re-hydrated PII), when it
    #: differs from what the caller got: the audit trail hashes this one.
    provider_text: str | None = None
    #: Keyed digest of the PII the privacy step replaced (None: none), so the cache never
    #: serves an answer about other people.
    pii_digest: str | None = None
    flags: list[str] = field(default_factory=list)
    #: Run once the call is over (tokens are known): e.g. count tokens against TPM limits.
    finishers: list[Callable[[CallContext], Awaitable[None]]] = field(default_factory=list)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


@dataclass
class Completion:
    """A whole ``chat.completion`` body."""

    body: dict[str, Any]


@dataclass
class Stream:
    """``chat.completion.chunk`` bodies, produced lazily."""

    chunks: AsyncIterator[dict[str, Any]]


Reply = Completion | Stream


class ProxyError(OutriggerError):
    """A call refused or failed; the gateway turns ``status`` and ``kind`` into the answer."""

    status = 500
    kind = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unauthorized(ProxyError):
    status, kind, code = 401, "authentication_error", "invalid_api_key"


class Forbidden(ProxyError):
    """A valid key without the role the route needs."""

    status, kind, code = 403, "permission_error", "missing_role"


class RateLimited(ProxyError):
    status, kind, code = 429, "rate_limit_error", "rate_limit_exceeded"


class QuotaExceeded(ProxyError):
    status, kind, code = 429, "insufficient_quota", "insufficient_quota"


class BadRequest(ProxyError):
    status, kind = 400, "invalid_request_error"


class Blocked(ProxyError):
    status, kind, code = 400, "invalid_request_error", "content_blocked"


class Unavailable(ProxyError):
    status, kind, code = 503, "server_error", "no_deployment_available"


class Backlogged(Unavailable):
    """The ledger or the audit trail cannot keep up (its database out of reach): no new
    call until they are written."""

    code = "records_backlogged"
