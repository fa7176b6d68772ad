"""The request the cache sees, and the keys derived from it.

* ``exact``: SHA-256 of the whole normalised request: tenant, model alias, every message
  and every parameter that can change the answer. Equal keys -> the same request.
* ``fingerprint``: SHA-256 of everything *except the text* of the last user message:
  tenant, alias, system prompt and earlier turns, every other field of the last message
  (``name``, and anything else sent with it), parameters (tools, ``tool_choice``,
  ``response_format``, temperature, seed ...) and the embedding model. Semantic matches are
  only searched among entries with the same fingerprint, so a paraphrase can only ever match
  a request that was otherwise identical: the same speaker, instructions, tools, context.
* ``text``: the last user message's text, the only part a paraphrase may change; None when
  the request cannot be matched semantically (last message not from the user, not plain
  text, or text UTF-8 cannot encode).

Normalisation is deliberately light (Unicode NFC, line endings, surrounding whitespace; JSON
with sorted keys): inner whitespace and case can matter (code, identifiers). Requests that
differ only in those still meet through the semantic path.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from outrigger.utf8 import unencodable

#: Parameters that never change the answer; every other parameter is part of the keys
#: (unknown provider-specific ones included: a needless miss beats a wrong hit).
NEUTRAL_PARAMS = frozenset(
    {"stream", "stream_options", "user", "metadata", "store", "service_tier", "timeout"}
)
#: 2: the fingerprint covers the last message's fields other than its text (``name``); the
#: entries and aliases filed under version 1 are never read again.
KEY_VERSION = 2


@dataclass(frozen=True)
class CacheRequest:
    """One chat request as the cache needs it; the proxy adapts its own type to this."""

    tenant: str
    feature: str
    model: str  # the alias the caller asked for, not the deployment it was routed to
    messages: Sequence[Mapping[str, Any]]
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CacheKeys:
    exact: str
    fingerprint: str
    text: str | None


def normalise_text(text: str) -> str:
    return unicodedata.normalize("NFC", text).replace("\r\n", "\n").strip()


def cache_keys(request: CacheRequest, embedding_model: str) -> CacheKeys:
    messages = [_message(m) for m in request.messages]
    params = {k: v for k, v in request.params.items() if k not in NEUTRAL_PARAMS}
    base = {"v": KEY_VERSION, "tenant": request.tenant, "model": request.model, "params": params}
    exact = _digest({**base, "messages": messages})
    text = _semantic_text(messages)
    context = [*messages[:-1], _without_text(messages[-1])] if text is not None else messages
    fingerprint = _digest({**base, "context": context, "embedding": embedding_model})
    return CacheKeys(exact=exact, fingerprint=fingerprint, text=text)


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in message.items() if k != "content"}
    content = message.get("content")
    if isinstance(content, str):
        out["content"] = normalise_text(content)
    elif isinstance(content, list):
        out["content"] = [_part(p) for p in content]
    else:
        out["content"] = content
    return out


def _part(part: Any) -> Any:
    if (
        isinstance(part, Mapping)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    ):
        return {**part, "text": normalise_text(part["text"])}
    return part


def _without_text(message: dict[str, Any]) -> dict[str, Any]:
    """The last user message as the fingerprint sees it: every field but its text (the
    speaker's ``name`` above all: carol's answer is not dave's)."""
    out = {k: v for k, v in message.items() if k != "content"}
    content = message.get("content")
    if isinstance(content, list):  # text parts only (else no semantic text): their other keys
        out["content"] = [{k: v for k, v in p.items() if k != "text"} for p in content]
    return out


def _semantic_text(messages: list[dict[str, Any]]) -> str | None:
    if not messages or messages[-1].get("role") != "user":
        return None
    content = messages[-1].get("content")
    if isinstance(content, list):
        if not all(isinstance(p, Mapping) and p.get("type") == "text" for p in content):
            return None  # images, audio, files: exact matches only
        content = " ".join(str(p.get("text", "")) for p in content)
    if not isinstance(content, str) or not content.strip() or unencodable(content):
        return None  # (text UTF-8 cannot encode is never embedded: the tokenizer refuses it)
    return normalise_text(content)


def _digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()  # never raises
