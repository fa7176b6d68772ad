"""What flows between the proxy and the providers: OpenAI-shaped dicts plus a little typing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from outrigger.errors import OutriggerError

ErrorKind = Literal["rate_limited", "server", "connection", "timeout", "client", "unavailable"]
RETRYABLE: frozenset[str] = frozenset(
    {"rate_limited", "server", "connection", "timeout", "unavailable"}
)
#: Request fields the proxy owns; everything else is passed to the provider unchanged.
PROXY_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "user"})
#: Roles whose messages carry a feature's standing instructions rather than the call's ask.
INSTRUCTION_ROLES = frozenset({"system", "developer"})


@dataclass
class ChatRequest:
    """A chat completion request: the alias asked for, the messages, the other parameters."""

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False

    def text(self) -> str:
        """Every message's text, for token estimates, hashes and screening."""
        return "\n".join(content_text(m.get("content")) for m in self.messages)

    def conversation_text(self) -> str:
        """The text of every turn but the instructions (``system``, ``developer``): what
        this call asks, as opposed to what the feature always says."""
        return "\n".join(
            content_text(m.get("content"))
            for m in self.messages
            if m.get("role") not in INSTRUCTION_ROLES
        )

    def body(self, model: str, *, stream: bool) -> dict[str, Any]:
        """The upstream request body for ``model`` (a deployment's model name)."""
        body: dict[str, Any] = {"model": model, "messages": self.messages, **self.params}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body


def content_text(content: Any) -> str:
    """The text of a message's ``content``: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def estimate_tokens(text: str) -> int:
    """About four characters per token: for limits before the call, and when a provider
    reports no usage."""
    return max(1, (len(text) + 3) // 4)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @classmethod
    def from_body(cls, body: dict[str, Any] | None) -> Usage | None:
        usage = (body or {}).get("usage")
        if not isinstance(usage, dict):
            return None
        return cls(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


class ProviderError(OutriggerError):
    """A provider call failed; ``kind`` decides whether a retry or a fallback may help."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        #: Seconds the provider asked us to wait (``Retry-After`` on a 429 or 503).
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    @classmethod
    def from_status(
        cls, status: int, message: str, retry_after: float | None = None
    ) -> ProviderError:
        if status == 429:
            return cls("rate_limited", message, status, retry_after)
        if status >= 500 or status == 408:
            return cls("server", message, status, retry_after)
        return cls("client", message, status)


def completion_text(body: dict[str, Any]) -> str:
    choices = body.get("choices") or []
    if not choices:
        return ""
    return content_text((choices[0].get("message") or {}).get("content"))


def chunk_text(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    return content_text((choices[0].get("delta") or {}).get("content"))
