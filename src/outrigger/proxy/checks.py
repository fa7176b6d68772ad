"""The step right after the recorder: refuse, before any limit is taken or any provider
asked, a request that no later step may see.

* Text UTF-8 cannot encode (a lone surrogate): the provider would answer it, and then the
  prompt's hash, the cache key and the tokenizer would fail with the answer in hand.

The gateway's request models refuse it too (with the field named); this step holds for
every caller, the pipelines' ``llm`` steps included.
"""

from __future__ import annotations

from outrigger.llm.types import ChatRequest
from outrigger.proxy.chain import Next
from outrigger.proxy.context import BadRequest, CallContext, Reply
from outrigger.utf8 import refusal, unencodable


class RequestCheck:
    async def __call__(self, ctx: CallContext, call_next: Next) -> Reply:
        check_request(ctx.request)
        return await call_next(ctx)


def check_request(request: ChatRequest) -> None:
    """``BadRequest`` naming the first field that may not reach a provider."""
    where = (
        unencodable(request.model, "model")
        or unencodable(request.messages, "messages")
        or unencodable(request.params)
    )
    if where is not None:
        raise BadRequest(refusal(where))
