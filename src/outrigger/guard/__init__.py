"""Guardrails: prompt-injection screening (rules and a learned classifier), structured prompts
with a canary, output validation."""

from outrigger.guard.canary import Canary
from outrigger.guard.injection import InjectionDetector, RuleHit, Verdict
from outrigger.guard.messages import ChatMessage, PromptTemplate
from outrigger.guard.output import OutputCheck, OutputValidator, parse_json_text, repair_prompt
from outrigger.guard.policy import InjectionPolicy
from outrigger.guard.screen import CombinedScreen, open_screen

__all__ = [
    "Canary",
    "ChatMessage",
    "CombinedScreen",
    "InjectionDetector",
    "InjectionPolicy",
    "OutputCheck",
    "OutputValidator",
    "PromptTemplate",
    "RuleHit",
    "Verdict",
    "open_screen",
    "parse_json_text",
    "repair_prompt",
]
