"""Which deployments may answer a call, in fallback order.

The request names a model alias; a routing rule may send it to another alias (a cheap model
for short, simple prompts, a strong one for long or complex ones, or by feature). Then the
tenant's region filters the alias's deployments: a tenant pinned to ``in`` is never served
from anywhere else, fallbacks included.
"""

from __future__ import annotations

import re

from outrigger.config.llm import DeploymentSettings, LlmSettings, RouteRule
from outrigger.llm.types import estimate_tokens
from outrigger.proxy.context import BadRequest, CallContext, Unavailable

_REASONING = re.compile(
    r"\b(why|explain|analy[sz]e|compare|evaluate|prove|derive|step[- ]by[- ]step|trade-?offs?|"
    r"plan|design|reason|justify|calculate)\b",
    re.IGNORECASE,
)


class ModelNotFound(BadRequest):
    status, code = 404, "model_not_found"


def complexity(text: str) -> float:
    """A cheap 0..1 score: long prompts, reasoning verbs, code, several questions."""
    length = min(len(text) / 4000, 1.0)
    verbs = min(len(_REASONING.findall(text)) / 4, 1.0)
    code = 1.0 if "```" in text or "def " in text else 0.0
    questions = min(text.count("?") / 4, 1.0)
    return round(0.35 * length + 0.35 * verbs + 0.15 * code + 0.15 * questions, 3)


def _matches(rule: RouteRule, ctx: CallContext, text: str) -> bool:
    if rule.feature is not None and rule.feature != ctx.feature:
        return False
    if rule.min_prompt_tokens is not None and estimate_tokens(text) < rule.min_prompt_tokens:
        return False
    return rule.min_complexity is None or complexity(text) >= rule.min_complexity


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
        rules = [r for r in self.settings.routes if r.alias == alias]
        if rules:
            text = ctx.request.text()
            for rule in rules:
                if _matches(rule, ctx, text):
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
