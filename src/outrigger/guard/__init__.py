"""Guardrails: prompt-injection screening, structured prompts with a canary, output validation."""

from outrigger.guard.canary import Canary
from outrigger.guard.injection import InjectionDetector, InjectionPolicy, RuleHit, Verdict
from outrigger.guard.messages import ChatMessage, PromptTemplate
from outrigger.guard.output import OutputCheck, OutputValidator, parse_json_text, repair_prompt

__all__ = [
    "Canary",
    "ChatMessage",
    "InjectionDetector",
    "InjectionPolicy",
    "OutputCheck",
    "OutputValidator",
    "PromptTemplate",
    "RuleHit",
    "Verdict",
    "parse_json_text",
    "repair_prompt",
]
