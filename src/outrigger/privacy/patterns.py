"""Regular-expression recognisers shared by the fast detector and the Presidio detector.

Each ``PatternSpec`` is one pattern for one entity type with a base score, an optional
validator (a checksum, a range check) and optional context words: a context word in the
``window`` characters before the match raises the score by ``CONTEXT_BOOST``; a spec
with ``needs_context`` matches only with one. Digit patterns are fenced so they never start or
end inside a longer number.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from outrigger.privacy import checksums
from outrigger.privacy import entities as E

CONTEXT_WINDOW: Final = 40
CONTEXT_BOOST: Final = 0.3
_NO_DIGIT_BEFORE: Final = r"(?<![\d+])(?<![\d+][ .-])"
_NO_DIGIT_AFTER: Final = r"(?!\d)(?![ .-]\d)"


@dataclass(frozen=True)
class PatternSpec:
    entity: str
    name: str
    regex: re.Pattern[str]
    score: float
    validator: Callable[[str], bool] | None = None
    context: tuple[str, ...] = ()
    needs_context: bool = False
    group: int = 0
    window: int = CONTEXT_WINDOW
    #: Words that, right before the match, mean it is something else ("version 10.2.3.4").
    anti_context: tuple[str, ...] = ()
    #: The context word must be a whole word and the match's own: no digit between them
    #: ("born on 12/03/1985, admitted on 14/05/2024": the second date is not a birth date).
    context_clear: bool = False


def _ip_valid(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not (address.version == 6 and text.count(":") < 3 and "::" not in text)


def _date_plausible(text: str) -> bool:
    """A written date whose day, month and year can be a date of birth (day-month and
    month-day orders both accepted for all-number dates)."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if len(numbers) == 2:  # a month name: day and year
        day, year = numbers
        return 1 <= day <= 31 and (year < 100 or 1880 <= year <= 2100)
    if len(numbers) != 3:
        return False
    a, b, c = numbers
    if a > 31:  # year first
        return 1880 <= a <= 2100 and 1 <= b <= 12 and 1 <= c <= 31
    if not (c < 100 or 1880 <= c <= 2100):
        return False
    return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)


def _phone_digits_ok(text: str) -> bool:
    return 8 <= len(checksums.digits_only(text)) <= 15


def _spec(
    entity: str,
    name: str,
    pattern: str,
    score: float,
    validator: Callable[[str], bool] | None = None,
    context: tuple[str, ...] = (),
    *,
    needs_context: bool = False,
    group: int = 0,
    window: int = CONTEXT_WINDOW,
    anti_context: tuple[str, ...] = (),
    context_clear: bool = False,
) -> PatternSpec:
    regex = re.compile(pattern)
    return PatternSpec(
        entity,
        name,
        regex,
        score,
        validator,
        context,
        needs_context,
        group,
        window,
        anti_context,
        context_clear,
    )


_VERSION_WORDS = ("version", "firmware", "build", "release")
_PHONE_CONTEXT = ("phone", "mobile", "cell", "call", "tel", "contact", "whatsapp", "fax")
_KNOWN_UPI_HANDLES = (
    "okaxis|okhdfcbank|okicici|oksbi|ybl|ibl|axl|apl|paytm|upi|ptyes|ptsbi|pthdfc|ptaxis|"
    "icici|sbi|hdfcbank|axisbank|kotak|yesbank|pnb|boi|barodampay|unionbank|idfcbank|"
    "indus|federal|rbl|aubank|jupiteraxis|fbl|freecharge|airtel|waicici|wahdfcbank|naviaxis"
)
_UPI_LOCAL = r"(?<![\w.@+-])[A-Za-z0-9][A-Za-z0-9._-]{1,63}@"
_UPI_END = r"(?![\w@-])(?!\.[A-Za-z0-9])"
_MONTH = (
    r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?i:st|nd|rd|th)?"
_DATE = (
    _NO_DIGIT_BEFORE
    + r"(?:\d{1,2}([/. -])\d{1,2}\1(?:\d{4}|\d{2})"  # 12/03/1985, 03-12-85, 12 03 1985
    + r"|\d{4}([/.-])\d{1,2}\2\d{1,2}"  # 1985-03-12
    + rf"|{_DAY}(?: of)?[ /-]{_MONTH},?[ /-](?:\d{{4}}|\d{{2}})"  # 12th of March, 1985; 12/Mar/85
    + rf"|{_MONTH}[ -]{_DAY},?[ -]\d{{4}})"  # March 12, 1985; Mar-12-1985
    + r"(?!\d)(?![/.-]\d)"  # not inside a longer number (a count may follow: "1985 45 years")
)
#: Words that make a date a date of birth (English, Hindi); general dates are not matched.
#: Matched as whole words ("borne", "stubborn", "Adobe" are not birth words).
_BIRTH_CONTEXT = (
    "birth", "birthday", "birthdate", "born", "dob", "d.o.b", "b'day", "bday",
    "जन्म", "जन्मतिथि", "पैदा",
)  # fmt: skip
_TITLE = r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Shri|Smt|Sri|Kumari)\.?\s+"
_INTRO = r"\b(?:[Mm]y name is|[Tt]his is|I am|I'm|[Dd]ear)\s+"
_FULL_NAME = r"([A-Z][a-z]+(?:[ '-][A-Z][a-z]+){1,2})\b"
_NAME = r"([A-Z][a-z]+(?:[ '-][A-Z][a-z]+){0,2})"

#: The custom recognisers (our entity types, and name cues the NER model tends to miss).
CUSTOM_SPECS: Final[tuple[PatternSpec, ...]] = (
    _spec(
        E.MEDICAL_RECORD_NUMBER,
        "MRN with context",
        r"\b(?:[A-Z]{1,5}[-/]?)?\d{5,10}\b",
        0.5,
        context=("mrn", "medical record", "record no", "record #", "chart", "uhid", "patient id"),
        needs_context=True,
        window=28,
    ),
    _spec(
        E.UPI_ID,
        "UPI id (known handle)",
        _UPI_LOCAL + f"(?:{_KNOWN_UPI_HANDLES})" + _UPI_END,
        0.85,
        context=("upi", "vpa", "pay"),
    ),
    _spec(
        E.UPI_ID,
        "UPI id",
        _UPI_LOCAL + r"[A-Za-z][A-Za-z0-9]{1,31}" + _UPI_END,
        0.5,
        context=("upi", "vpa", "pay", "gpay", "phonepe"),
    ),
    _spec(
        E.CREDIT_CARD,
        "12-digit card number",
        _NO_DIGIT_BEFORE + r"\d{4}([ -]?)\d{4}\1\d{4}" + _NO_DIGIT_AFTER,
        0.5,
        checksums.card_valid,
        ("card", "visa", "mastercard", "maestro", "rupay", "credit", "debit"),
        needs_context=True,
    ),
    _spec(E.IN_IFSC, "IFSC", r"\b[A-Z]{4}0[A-Z0-9]{6}\b", 0.6, context=("ifsc", "branch", "bank")),
    _spec(
        E.DATE_OF_BIRTH,
        "date with a birth context",
        _DATE,
        0.5,
        _date_plausible,
        _BIRTH_CONTEXT,
        needs_context=True,
        context_clear=True,
    ),
    _spec(E.PERSON, "titled name", _TITLE + _NAME, 0.6, group=1),
    _spec(E.PERSON, "introduced name", _INTRO + _FULL_NAME, 0.6, group=1),
    _spec(
        E.PERSON,
        "labelled name",
        r"\b(?:[Nn]ame|[Pp]atient|[Cc]ustomer|[Aa]pplicant|[Bb]eneficiary)\s*[:=]\s*" + _NAME,
        0.6,
        group=1,
    ),
)

#: Regex versions of the types Presidio recognises itself (the fast mode's only recognisers).
STRUCTURED_SPECS: Final[tuple[PatternSpec, ...]] = (
    _spec(
        E.EMAIL_ADDRESS,
        "email",
        r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}"
        r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b",
        0.9,
    ),
    _spec(
        E.PHONE_NUMBER,
        "international phone",
        r"(?<![\w+])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,5}(?:[ .-]?\d{2,5}){1,4}(?!\w)",
        0.7,
        _phone_digits_ok,
        _PHONE_CONTEXT,
    ),
    _spec(
        E.PHONE_NUMBER,
        "north american phone",
        _NO_DIGIT_BEFORE + r"(?:(?:\+?1|001)[ .-]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[ .-])"
        r"\d{3}[ .-]\d{4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?" + _NO_DIGIT_AFTER,
        0.6,
        None,
        _PHONE_CONTEXT,
    ),
    _spec(
        E.PHONE_NUMBER,
        "indian mobile",
        _NO_DIGIT_BEFORE + r"(?:0|\+?91[ -]?)?[6-9]\d{4}[ -]?\d{5}" + _NO_DIGIT_AFTER,
        0.5,
        None,
        _PHONE_CONTEXT,
    ),
    _spec(
        E.CREDIT_CARD,
        "card number",
        _NO_DIGIT_BEFORE + r"\d(?:[ -]?\d){12,18}" + _NO_DIGIT_AFTER,
        0.9,
        checksums.card_valid,
        ("card", "visa", "mastercard", "amex", "credit", "debit"),
    ),
    _spec(
        E.IBAN_CODE,
        "IBAN",
        r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
        0.95,
        checksums.iban_valid,
        ("iban",),
    ),
    _spec(
        E.IP_ADDRESS,
        "IPv4",
        r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)",
        0.7,
        _ip_valid,
        ("ip", "address", "host", "server"),
        anti_context=_VERSION_WORDS,
    ),
    _spec(
        E.IP_ADDRESS,
        "IPv6",
        r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])",
        0.7,
        _ip_valid,
        ("ip", "address", "host"),
    ),
    _spec(
        E.US_SSN,
        "SSN",
        _NO_DIGIT_BEFORE + r"\d{3}([- .])\d{2}\1\d{4}" + _NO_DIGIT_AFTER,
        0.6,
        checksums.ssn_valid,
        ("ssn", "social security", "social"),
    ),
    _spec(
        E.US_SSN,
        "SSN digits",
        _NO_DIGIT_BEFORE + r"\d{9}" + _NO_DIGIT_AFTER,
        0.5,
        checksums.ssn_valid,
        ("ssn", "social security"),
        needs_context=True,
    ),
    _spec(
        E.IN_PAN,
        "PAN",
        r"\b[A-Z]{3}[ABCFGHJLPT][A-Z]\d{4}[A-Z]\b",
        0.7,
        None,
        ("pan", "permanent account", "income tax"),
    ),
    _spec(
        E.IN_AADHAAR,
        "Aadhaar",
        _NO_DIGIT_BEFORE + r"[2-9]\d{3}([ -]?)\d{4}\1\d{4}" + _NO_DIGIT_AFTER,
        0.7,
        checksums.aadhaar_valid,
        ("aadhaar", "aadhar", "uidai", "uid"),
    ),
)

ALL_SPECS: Final = STRUCTURED_SPECS + CUSTOM_SPECS
