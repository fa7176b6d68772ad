"""The step right after the recorder: refuse, before any limit is taken or any provider
asked, a request that no later step may see.

* Text UTF-8 cannot encode (a lone surrogate): the provider would answer it, and then the
  prompt's hash, the cache key and the tokenizer would fail with the answer in hand.
* An output budget (``max_tokens``, ``max_completion_tokens``) that is not a whole number
  from 1 to ``llm.max_output_tokens``: forwarded as sent, ``1e30`` is a provider's 400 at
  best and a cost the price table never planned for at worst.

The gateway's request models refuse both too (with the field named); this step holds for
every caller, the pipelines' ``llm`` steps included.
"""

from __future__ import annotations

from outrigger.config.llm import LlmSettings
from outrigger.llm.types import ChatRequest
from outrigger.proxy.chain import Next
from outrigger.proxy.context import BadRequest, CallContext, Reply
from outrigger.utf8 import refusal, unencodable

OUTPUT_BUDGETS = ("max_tokens", "max_completion_tokens")


class RequestCheck:
    def __init__(self, settings: LlmSettings) -> None:
        self.max_output_tokens = settings.max_output_tokens

    async def __call__(self, ctx: CallContext, call_next: Next) -> Reply:
        check_request(ctx.request, self.max_output_tokens)
        return await call_next(ctx)


def check_request(request: ChatRequest, max_output_tokens: int) -> None:
    """``BadRequest`` naming the first field that may not reach a provider."""
    where = (
        unencodable(request.model, "model")
        or unencodable(request.messages, "messages")
        or unencodable(request.params)
    )
    if where is not None:
        raise BadRequest(refusal(where))
    for name in OUTPUT_BUDGETS:
        value = request.params.get(name)
        if value is not None and not _whole(value, max_output_tokens):
            raise BadRequest(output_budget_refusal(name, max_output_tokens))


def output_budget_refusal(name: str, max_output_tokens: int) -> str:
    return (
        f"{name}: must be a whole number from 1 to {max_output_tokens} "
        "(this gateway's llm.max_output_tokens)"
    )


def _whole(value: object, ceiling: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= ceiling
