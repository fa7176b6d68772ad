"""What field names say: personal data (``customer.email``), identifiers (``order_id``),
timestamps (``created_at``) and free text (``comment``). Names are split into lower-case
words (``firstName`` -> first, name; ``card_no`` -> card, no)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Action = Literal["drop", "mask", "pseudonymize"]


@dataclass(frozen=True)
class Hint:
    """A sanitise rule a field name (or a detected entity) calls for."""

    why: str
    action: Action
    entity: str = "PII"


#: Word in a field name -> what it says (checked in this order).
SENSITIVE_WORDS: tuple[tuple[frozenset[str], Hint], ...] = (
    (frozenset({"email", "mail"}), Hint("e-mail address", "pseudonymize", "EMAIL_ADDRESS")),
    (frozenset({"ssn", "aadhaar", "aadhar", "pan", "passport"}), Hint("national id", "drop")),
    (frozenset({"dob", "birth", "birthdate", "birthday"}), Hint("date of birth", "drop")),
    (frozenset({"iban", "card", "account", "acct"}), Hint("account or card", "mask")),
    (frozenset({"phone", "mobile", "msisdn"}), Hint("phone number", "mask")),
    (frozenset({"address", "street"}), Hint("postal address", "drop")),
    (
        frozenset({"name", "firstname", "lastname", "fullname", "surname"}),
        Hint("person's name", "pseudonymize", "PERSON"),
    ),
)
#: Words beside a sensitive word that make it something else (``card_type``, ``product.name``).
NOT_PERSONAL = frozenset({
    "type", "kind", "brand", "network", "status", "tier", "count", "currency", "product",
    "file", "event", "queue", "topic", "host", "service", "model", "company", "merchant",
    "business", "bank", "branch", "item", "category", "plan", "display", "app", "ip",
    "mac", "web", "url", "domain", "template", "id", "ids",
})  # fmt: skip
#: Entity type found by the detector -> its rule.
ENTITY_HINTS: Mapping[str, Hint] = MappingProxyType(
    {
        "PERSON": Hint("person's name", "pseudonymize", "PERSON"),
        "EMAIL_ADDRESS": Hint("e-mail address", "pseudonymize", "EMAIL_ADDRESS"),
        "US_SSN": Hint("national id", "drop"),
        "IN_AADHAAR": Hint("national id", "drop"),
        "IN_PAN": Hint("national id", "drop"),
        "DATE_OF_BIRTH": Hint("date of birth", "drop"),
        "MEDICAL_RECORD_NUMBER": Hint("medical record number", "drop"),
    }
)
DEFAULT_ENTITY_HINT = Hint("identifier", "mask")
ID_WORDS = frozenset({"id", "uuid", "guid", "ref", "reference", "key", "code", "no", "number"})
_NOT_IDS = frozenset({"valid", "invalid", "prepaid", "postpaid", "unpaid", "android"})
TIME_WORDS = frozenset({"at", "time", "timestamp", "ts", "date", "created", "updated"})
TEXT_WORDS = frozenset({
    "description", "comment", "comments", "complaint", "message", "text", "body", "notes",
    "note", "feedback", "summary", "review", "reason", "details", "narrative", "content",
})  # fmt: skip


def words(path: str) -> list[str]:
    """The words of a path's last segment."""
    leaf = path.replace("[*]", "").rsplit(".", 1)[-1]
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", leaf)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def _parent_words(path: str) -> list[str]:
    parts = path.replace("[*]", "").rsplit(".", 2)
    return words(parts[-2]) if len(parts) >= 2 else []


def sensitive_name(path: str) -> Hint | None:
    """The rule a sensitive-sounding field name calls for, if any."""
    leaf = words(path)
    if NOT_PERSONAL.intersection(leaf):
        return None
    for group, hint in SENSITIVE_WORDS:
        if group.intersection(leaf):
            if hint.entity == "PERSON" and NOT_PERSONAL.intersection(_parent_words(path)):
                return None  # product.name, merchant.name
            return hint
    return None


def id_name(path: str) -> bool:
    leaf = words(path)
    if not leaf:
        return False
    last = leaf[-1]  # orderid, customerid; not paid, valid
    return last in ID_WORDS or (last.endswith("id") and len(last) > 4 and last not in _NOT_IDS)


def time_name(path: str) -> bool:
    leaf = words(path)
    return bool(leaf) and leaf[-1] in TIME_WORDS


def text_name(path: str) -> bool:
    return bool(TEXT_WORDS.intersection(words(path)))
