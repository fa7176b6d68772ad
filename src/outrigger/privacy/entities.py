"""Entity types, which of them are structured identifiers, and their placeholder tags.

Entity type names are Presidio's where Presidio has one, ours otherwise. Placeholders use a
short tag (``EMAIL_ADDRESS`` becomes ``<EMAIL_1>``): fewer tokens, and easier for a model to
copy back verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

PERSON: Final = "PERSON"
EMAIL_ADDRESS: Final = "EMAIL_ADDRESS"
PHONE_NUMBER: Final = "PHONE_NUMBER"
CREDIT_CARD: Final = "CREDIT_CARD"
IBAN_CODE: Final = "IBAN_CODE"
IP_ADDRESS: Final = "IP_ADDRESS"
US_SSN: Final = "US_SSN"
IN_PAN: Final = "IN_PAN"
IN_AADHAAR: Final = "IN_AADHAAR"
MEDICAL_RECORD_NUMBER: Final = "MEDICAL_RECORD_NUMBER"
UPI_ID: Final = "UPI_ID"
IN_IFSC: Final = "IN_IFSC"
DATE_OF_BIRTH: Final = "DATE_OF_BIRTH"

#: Entity type -> placeholder tag.
TAGS: Final[Mapping[str, str]] = MappingProxyType(
    {
        PERSON: "PERSON",
        EMAIL_ADDRESS: "EMAIL",
        PHONE_NUMBER: "PHONE",
        CREDIT_CARD: "CARD",
        IBAN_CODE: "IBAN",
        IP_ADDRESS: "IP",
        US_SSN: "SSN",
        IN_PAN: "PAN",
        IN_AADHAAR: "AADHAAR",
        MEDICAL_RECORD_NUMBER: "MRN",
        UPI_ID: "UPI",
        IN_IFSC: "IFSC",
        DATE_OF_BIRTH: "DOB",
    }
)

ALL_ENTITIES: Final = frozenset(TAGS)
#: Every type but PERSON is a structured identifier (a pattern, often with a checksum).
STRUCTURED: Final = ALL_ENTITIES - {PERSON}


def tag_for(entity_type: str) -> str:
    """The placeholder tag of ``entity_type`` (unknown types keep their name)."""
    return TAGS.get(entity_type, entity_type)
