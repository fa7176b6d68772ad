"""Event sanitisation: declared sensitive fields and free-text scanning, before any AI step.

Per event type, ``fields`` name dotted paths with an action (``drop``, ``mask``, ``hash`` with a
secret salt, ``pseudonymize`` into the event's vault) and ``text_fields`` name free-text fields
whose PII is replaced by placeholders. The payload given is never modified: a sanitised deep
copy comes back with the vault that can restore it.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from outrigger.errors import ConfigError
from outrigger.privacy.base import Detector
from outrigger.privacy.paths import DROP, Edit, edit_path, parse_path, valid_path
from outrigger.privacy.vault import Pseudonymizer, Vault

_MIN_SALT = 16


def _check_path(value: str) -> str:
    if not valid_path(value):
        raise ValueError(f"not a valid field path: {value!r} (e.g. customer.email, items[*].pan)")
    return value


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    action: Literal["drop", "mask", "hash", "pseudonymize"]
    #: Placeholder entity for ``pseudonymize`` (``<PII_1>`` by default).
    entity: str = "PII"
    #: Characters left visible at the end by ``mask``.
    keep_last: int = Field(4, ge=0)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value)


class EventPrivacy(BaseModel):
    """The sensitive fields of one event type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: list[FieldRule] = Field(default_factory=list)
    text_fields: list[str] = Field(default_factory=list)

    @field_validator("text_fields")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        return [_check_path(v) for v in value]


class SanitizationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Event type (CloudEvents ``type`` or routing key) -> its sensitive fields.
    events: dict[str, EventPrivacy] = Field(default_factory=dict)
    #: Applied to event types not listed (None: they pass unchanged).
    default: EventPrivacy | None = None
    #: Secret file holding the salt for ``hash`` (at least 16 bytes).
    salt_file: Path | None = None

    def declares_any(self) -> bool:
        """Does any event type (or the default) declare something to sanitise?"""
        return bool(self.events) or self.default is not None


class SaltedHasher:
    """HMAC-SHA256 with a secret salt: equal values hash equal, and can't be brute-forced
    back without the salt (phone numbers and PANs have small spaces)."""

    def __init__(self, salt: bytes) -> None:
        if len(salt) < _MIN_SALT:
            raise ConfigError(f"privacy: the hash salt needs at least {_MIN_SALT} bytes")
        self._salt = salt

    @classmethod
    def from_secret_file(cls, path: str | Path) -> SaltedHasher:
        return cls(Path(path).read_bytes().strip())

    def __call__(self, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return "hmac:" + hmac.new(self._salt, text.encode(), hashlib.sha256).hexdigest()[:32]


def mask(value: Any, keep_last: int) -> str:
    """Letters and digits replaced by ``*`` except the last ``keep_last`` of them."""
    text = value if isinstance(value, str) else json.dumps(value)
    visible = sum(ch.isalnum() for ch in text) - keep_last
    out: list[str] = []
    for ch in text:
        if ch.isalnum() and visible > 0:
            out.append("*")
            visible -= 1
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class Sanitized:
    payload: dict[str, Any]
    vault: Vault


class EventSanitizer:
    def __init__(
        self,
        config: SanitizationConfig,
        detector: Detector,
        hasher: SaltedHasher | None = None,
    ) -> None:
        uses_hash = any(
            rule.action == "hash"
            for rules in [*config.events.values(), config.default]
            if rules is not None
            for rule in rules.fields
        )
        if uses_hash and hasher is None:
            raise ConfigError("privacy: a field is hashed but no salt is configured (salt_file)")
        self._config = config
        self._detector = detector
        self._hasher = hasher

    def rules_for(self, event_type: str) -> EventPrivacy | None:
        return self._config.events.get(event_type, self._config.default)

    def sanitize(
        self, event_type: str, payload: Mapping[str, Any], vault: Vault | None = None
    ) -> Sanitized:
        vault = vault if vault is not None else Vault()
        result: dict[str, Any] = copy.deepcopy(dict(payload))
        rules = self.rules_for(event_type)
        if rules is None:
            return Sanitized(result, vault)
        for rule in rules.fields:
            edit_path(result, parse_path(rule.path), self._field_edit(rule, vault))
        pseudonymizer = Pseudonymizer(self._detector, vault)
        for path in rules.text_fields:
            edit_path(result, parse_path(path), _text_edit(pseudonymizer))
        return Sanitized(result, vault)

    def _field_edit(self, rule: FieldRule, vault: Vault) -> Edit:
        def edit(value: Any) -> Any:
            if value is None:
                return None
            if rule.action == "drop":
                return DROP
            if rule.action == "mask":
                return mask(value, rule.keep_last)
            if rule.action == "hash":
                assert self._hasher is not None  # checked in __init__
                return self._hasher(value)
            text = value if isinstance(value, str) else json.dumps(value)
            return vault.placeholder(rule.entity, text)

        return edit


def _text_edit(pseudonymizer: Pseudonymizer) -> Edit:
    def edit(value: Any) -> Any:
        return pseudonymizer.pseudonymize(value) if isinstance(value, str) else value

    return edit
