"""Numbers, amounts, times and identifiers in a token list, with their units.

``$1,200``, ``1200 dollars`` and ``1.2k USD`` are one quantity (1200 usd); ``5kg`` and
``5 kg`` agree; ``9:30 am`` and ``9:30 pm`` do not; ``one-year`` is 1 year. Tokens that
mix letters and digits (``CLM-20931``, ``1Z999AA1012``) are identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from outrigger.cache import lexicon as lx

_NUMBER = re.compile(r"^(\d[\d,]*(?:\.\d+)?)([a-z%.]*)$")
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})(am|pm)?$")
_ORDINAL = frozenset({"st", "nd", "rd", "th"})
#: Words that may stand between a number and its unit ("3 more years", "2 extra days").
_AMOUNT_WORDS = frozenset({"more", "extra", "additional", "further", "full", "whole"})
_MONEY = frozenset(lx.CURRENCY_SYMBOLS.values()) | {c for c in lx.CURRENCY_QUALIFIERS.values() if c}


#: Units of one dimension: quantities in them can trade places in a sentence ("a 2 year
#: warranty and 30 day returns" is not "a 30 day warranty and 2 year returns"; "$30 copay,
#: 20% coinsurance" is not "20% copay, $30 coinsurance"), so their order counts.
_DIMENSIONS: dict[str, str] = {
    **dict.fromkeys((*_MONEY, "%"), "amount"),
    **dict.fromkeys(("minute", "hour", "day", "week", "month", "year"), "duration"),
    **dict.fromkeys(("am", "pm"), "clock"),
    **dict.fromkeys(("kg", "lb", "g", "mg"), "mass"),
    **dict.fromkeys(("km", "mile", "ft"), "length"),
}


@dataclass(frozen=True, slots=True)
class Quantity:
    value: str
    unit: str | None = None

    def matches(self, other: Quantity) -> bool:
        """The same value in the same unit; a bare number also matches an amount of money
        (amounts are often written without their currency), but not "20 mg"."""
        if self.value != other.value:
            return False
        if self.unit == other.unit:
            return True
        unit = self.unit or other.unit
        return (self.unit is None or other.unit is None) and unit in _MONEY

    def rivals(self, other: Quantity) -> bool:
        """Could the two trade places in a sentence: a bare number (it may be anything) or
        units of one dimension. "3 years at 8.6%" and "8.6% for 3 years" agree."""
        if self.unit is None or other.unit is None:
            return True
        return _DIMENSIONS.get(self.unit, self.unit) == _DIMENSIONS.get(other.unit, other.unit)


def same_quantities(a: Sequence[Quantity], b: Sequence[Quantity]) -> bool:
    """Do two texts name the same quantities, each in the same role?

    Every quantity needs its match in the other text (``Quantity.matches``), and rivals
    must come in the same order in both ("$35 to savings, $25 to checking" is not "$25 to
    savings, $35 to checking"; "from 9:30 am to 2 pm" is not "from 2 pm to 9:30 am").
    Checked both ways round, so the answer does not depend on which text is the query.
    """
    return _in_order(a, b) and _in_order(b, a)


def _in_order(a: Sequence[Quantity], b: Sequence[Quantity]) -> bool:
    where = _matching(a, b)
    return where is not None and not any(
        where[i] > where[k]
        for i in range(len(a))
        for k in range(i + 1, len(a))
        if not a[i].matches(a[k]) and (a[i].rivals(a[k]) or b[where[i]].rivals(b[where[k]]))
    )


def _matching(a: Sequence[Quantity], b: Sequence[Quantity]) -> list[int] | None:
    """For each quantity of ``a``, the position of its match in ``b`` (equal ones first, so
    that a bare number stays free for its own twin); None when one has none."""
    if len(a) != len(b):
        return None
    where: list[int] = []
    free = list(range(len(b)))
    for x in a:
        j = next((j for j in free if b[j] == x), None)
        if j is None:
            j = next((j for j in free if x.matches(b[j])), None)
        if j is None:
            return None
        free.remove(j)
        where.append(j)
    return where


def number_text(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def parse_number(token: str) -> tuple[str, str | None] | None:
    """``(value, unit)`` for a numeric token, or None. Units glued on are read too."""
    time = _TIME.match(token)
    if time:
        return f"{int(time.group(1))}:{time.group(2)}", time.group(3)
    match = _NUMBER.match(token)
    if match:
        digits, suffix = match.groups()
        if "," in digits and not re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", digits):
            return None
        value = float(digits.replace(",", ""))
        if suffix in lx.SCALE_SUFFIX:
            return number_text(value * lx.SCALE_SUFFIX[suffix]), None
        if suffix in _ORDINAL or not suffix:
            return number_text(value), None
        if suffix in lx.UNITS:
            return number_text(value), lx.UNITS[suffix]
        return None
    head, _, rest = token.partition("-")
    unit = lx.UNITS.get(rest.split("-", 1)[0]) if rest else None
    if rest and unit is not None:  # 20-foot, 17-year-old, one-year
        if head.isdigit():
            return number_text(float(head)), unit
        if head in lx.NUMBER_WORDS:
            return number_text(lx.NUMBER_WORDS[head]), unit
    return None


def identifier(token: str) -> str | None:
    """Upper-cased identifier for a token mixing letters and digits (or a dashed date)."""
    has_digit = any(c.isdigit() for c in token)
    has_alpha = any(c.isalpha() for c in token)
    if has_digit and (has_alpha or any(c in "-/" for c in token)):
        return re.sub(r"[^A-Za-z0-9]", "", token).upper()
    return None


def unit_after(words: list[str], i: int) -> str | None:
    """The unit named right after position ``i`` ("500 dollars", "1,000 US dollars",
    "5 more years")."""
    nxt = words[i + 1] if i + 1 < len(words) else ""
    if nxt in _AMOUNT_WORDS and i + 2 < len(words) and words[i + 2] in lx.UNITS:
        return lx.UNITS[words[i + 2]]
    if nxt in lx.UNITS:
        return lx.UNITS[nxt]
    if nxt in lx.CURRENCY_QUALIFIERS and i + 2 < len(words):
        currency = lx.UNITS.get(words[i + 2])
        if currency is not None and currency in {"usd"}:
            return lx.CURRENCY_QUALIFIERS[nxt] or currency
        return currency
    return None


def word_number(words: list[str], i: int) -> str | None:
    """The value of a number word; a bare "one" counts only before a unit ("one week")."""
    value = lx.NUMBER_WORDS.get(words[i])
    if value is None:
        return None
    if value == 1 and unit_after(words, i) is None:
        return None
    return number_text(value)
