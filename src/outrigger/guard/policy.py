"""What a feature does with an injection verdict.

The default is tiered: a score at or above ``block_threshold`` (0.9, a high-confidence
score) is refused, one at or above ``flag_threshold`` (0.5) passes marked. ``action`` set to
``block``, ``flag`` or ``log`` applies that one action from ``flag_threshold`` up (or from
``threshold``, the field of the earlier single-threshold policy, which keeps its meaning);
``off`` screens nothing. A policy that gives only ``threshold`` is the earlier default,
``flag`` at that score.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from outrigger.guard.injection import Verdict

Action = Literal["tiered", "block", "flag", "log", "off"]
Decision = Literal["allow", "block", "flag", "log"]


class InjectionPolicy(BaseModel):
    """Per feature: ``block`` refuses the request (a 400, or a dead letter for an event),
    ``flag`` lets it through marked (response header, ledger, audit record, the result
    event's ``flags``), ``log`` only records it; ``tiered`` (the default) blocks above the
    high-confidence score and flags between."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    action: Action = "tiered"
    flag_threshold: float = Field(0.5, gt=0.0, le=1.0)
    block_threshold: float = Field(0.9, gt=0.0, le=1.0)
    #: The single threshold of ``block``/``flag``/``log`` (earlier configurations).
    threshold: float | None = Field(None, gt=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _earlier_form(cls, data: Any) -> Any:
        """``{threshold: x}`` alone meant "flag from x" and still does."""
        if isinstance(data, dict) and "threshold" in data and "action" not in data:
            return {**data, "action": "flag"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> InjectionPolicy:
        if self.action == "tiered" and self.threshold is not None:
            raise ValueError(
                "injection: 'threshold' goes with action block, flag or log; the tiered "
                "default uses 'flag_threshold' and 'block_threshold'"
            )
        if self.block_threshold < self.flag_threshold:
            raise ValueError("injection: block_threshold is below flag_threshold")
        return self

    @property
    def screens(self) -> bool:
        return self.enabled and self.action != "off"

    def decide(self, verdict: Verdict) -> Decision:
        if not self.screens:
            return "allow"
        if self.action == "tiered":
            if verdict.score >= self.block_threshold:
                return "block"
            return "flag" if verdict.score >= self.flag_threshold else "allow"
        cut = self.flag_threshold if self.threshold is None else self.threshold
        if verdict.score < cut:
            return "allow"
        assert self.action != "off"
        return self.action
