"""Which deployments may answer a call, in fallback order.

The request names a model alias; a routing rule may send it to another alias (a cheap model
for short, simple prompts, a strong one for long or complex ones, or by feature). Then the
tenant's region filters the alias's deployments: a tenant pinned to ``in`` is never served
from anywhere else, fallbacks included.
"""

from __future__ import annotations

import re
from functools import cached_property

from outrigger.config.llm import DeploymentSettings, LlmSettings, RouteRule
from outrigger.llm.types import ChatRequest, estimate_tokens
from outrigger.proxy.context import BadRequest, CallContext, Unavailable

_REASONING = re.compile(
    r"\b(why|explain|analy[sz]e|compare|evaluate|prove|derive|step[- ]by[- ]step|trade-?offs?|"
    r"plan|design|reason|justify|calculate)\b",
    re.IGNORECASE,
)
#: Numbers to compute with ("8.6", "24,000", "-1,458", "3 years"): several of them ask for
#: arithmetic. Not identifiers or dates written with letters, dashes or slashes ("TXN4471",
#: "4471-2290", "2024-05-01", a UUID; also "12-3" unspaced), nor pieces of one ("v1.2.3",
#: "24,000/year" counts nothing rather than "24"): the atomic group never gives digits back.
_NUMBER = re.compile(r"(?<![\w/.,])(?<!\w-)(?>\d+(?:[.,]\d+)*)(?![\w/]|-\w)")


class ModelNotFound(BadRequest):
    status, code = 404, "model_not_found"


def complexity(text: str) -> float:
    """A cheap 0..1 score: long prompts, reasoning verbs, code, several questions, several
    numbers (arithmetic: where a small model goes wrong first)."""
    length = min(len(text) / 4000, 1.0)
    verbs = min(len(_REASONING.findall(text)) / 4, 1.0)
    code = 1.0 if "```" in text or "def " in text else 0.0
    questions = min(text.count("?") / 4, 1.0)
    numbers = min(len(_NUMBER.findall(text)) / 6, 1.0)
    return round(0.3 * length + 0.3 * verbs + 0.15 * code + 0.1 * questions + 0.15 * numbers, 3)


class _Measures:
    """What the rules of one call compare, each computed once, when a rule first asks.
    ``tokens`` counts the whole prompt (what the model must read); ``complexity`` scores
    the conversation without its instructions: a feature's system prompt is the same on
    every call and says nothing about how hard this one is."""

    def __init__(self, request: ChatRequest) -> None:
        self.request = request

    @cached_property
    def tokens(self) -> int:
        return estimate_tokens(self.request.text())

    @cached_property
    def complexity(self) -> float:
        return complexity(self.request.conversation_text())


def _matches(rule: RouteRule, ctx: CallContext, measures: _Measures) -> bool:
    if rule.feature is not None and rule.feature != ctx.feature:
        return False
    if rule.min_prompt_tokens is not None and measures.tokens < rule.min_prompt_tokens:
        return False
    return rule.min_complexity is None or measures.complexity >= rule.min_complexity


class Router:
    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings

    @property
    def aliases(self) -> list[str]:
        return sorted(self.settings.aliases)

    def deployment(self, name: str) -> DeploymentSettings:
        return self.settings.deployments[name]

    def alias_for(self, ctx: CallContext) -> str:
        alias = ctx.request.model
        if alias not in self.settings.aliases:
            raise ModelNotFound(
                f"model {alias!r} does not exist; available: {', '.join(self.aliases)}"
            )
        measures = _Measures(ctx.request)
        for rule in self.settings.routes:
            if rule.alias == alias and _matches(rule, ctx, measures):
                return rule.use
        return alias

    def route(self, ctx: CallContext) -> list[str]:
        """The alias chosen (set on ``ctx``) and its deployments allowed for the tenant."""
        ctx.alias = self.alias_for(ctx)
        names = self.settings.aliases[ctx.alias]
        region = ctx.tenant.region
        allowed = [n for n in names if region is None or self.deployment(n).region == region]
        if not allowed:
            raise Unavailable(
                f"model {ctx.alias!r} has no deployment in region {region!r}, "
                "where this tenant's data must stay"
            )
        return allowed
