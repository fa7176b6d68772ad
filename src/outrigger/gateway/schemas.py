"""The OpenAI request shapes we validate at the edge (unknown fields are passed through)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from outrigger.utf8 import refusal, unencodable

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=1000)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=1)  # one choice per call (cost and audit)
    user: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _utf8(cls, data: Any, info: ValidationInfo) -> Any:
        return utf8_only(data, info)

    def params(self) -> dict[str, Any]:
        """Everything but the fields the proxy owns, as sent (unset fields left out)."""
        data = self.model_dump(exclude_unset=True, exclude_none=True)
        for owned in ("model", "messages", "stream", "stream_options", "user"):
            data.pop(owned, None)
        return data

    def message_dicts(self) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True) for m in self.messages]


def utf8_only(data: Any, info: ValidationInfo) -> Any:
    """Refuse a body holding text UTF-8 cannot encode (a lone surrogate from a ``\\ud800``
    escape) anywhere, extra fields included: it would reach the provider and then break the
    hashes of the ledger and audit record. pydantic-core's JSON parser already refuses such
    escapes, so only bodies parsed in Python are walked."""
    where = None if info.mode == "json" else unencodable(data)
    if where is not None:
        raise ValueError(refusal(where))
    return data


#: Inputs per embeddings request (OpenAI's limit too); more is a 400.
MAX_EMBEDDING_INPUTS = 2048


class EmbeddingsRequest(BaseModel):
    """``POST /v1/embeddings``: text inputs only (token arrays are refused)."""

    model_config = ConfigDict(extra="ignore")

    input: str | list[str]
    model: str = Field(min_length=1, max_length=200)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _utf8(cls, data: Any, info: ValidationInfo) -> Any:
        return utf8_only(data, info)

    @field_validator("input")
    @classmethod
    def _inputs(cls, value: str | list[str]) -> str | list[str]:
        texts = [value] if isinstance(value, str) else value
        if not texts:
            raise ValueError("give at least one input")
        if len(texts) > MAX_EMBEDDING_INPUTS:
            raise ValueError(f"at most {MAX_EMBEDDING_INPUTS} inputs per request")
        empty = [i for i, t in enumerate(texts) if not t.strip()]
        if empty:
            raise ValueError(f"inputs must not be empty (index {empty[0]})")
        return value

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)
