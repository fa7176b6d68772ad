"""Check digits of the structured identifiers: Luhn, Verhoeff, IBAN mod 97, SSN rules."""

from __future__ import annotations

from typing import Final

# Verhoeff: the multiplication table of the dihedral group D5, the permutation table and
# the inverses (https://en.wikipedia.org/wiki/Verhoeff_algorithm).
_D: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV: Final = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def digits_only(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _verhoeff_state(digits: str) -> int:
    check = 0
    for i, ch in enumerate(reversed(digits)):
        check = _D[check][_P[i % 8][int(ch)]]
    return check


def verhoeff_valid(digits: str) -> bool:
    """True when the last digit of ``digits`` is its Verhoeff check digit."""
    return digits.isdigit() and _verhoeff_state(digits) == 0


def verhoeff_check_digit(digits: str) -> str:
    """The Verhoeff check digit to append to ``digits``."""
    return str(_INV[_verhoeff_state(digits + "0")])


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1."""
    iban = "".join(text.split()).upper()
    if not (15 <= len(iban) <= 34) or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def aadhaar_valid(text: str) -> bool:
    """12 digits, not starting with 0 or 1, Verhoeff check digit, not a palindrome."""
    digits = digits_only(text)
    return (
        len(digits) == 12
        and digits[0] not in "01"
        and digits != digits[::-1]
        and verhoeff_valid(digits)
    )


def ssn_valid(text: str) -> bool:
    """Area 001-665/667-899, group 01-99, serial 0001-9999, and not a known sample number."""
    digits = digits_only(text)
    if len(digits) != 9 or len(set(digits)) == 1:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits not in ("078051120", "219099999", "123456789")


#: Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB incl. its legacy
#: 1800/2131 ranges, Diners, Maestro, RuPay, UnionPay).
_CARD_PREFIXES = ("1800", "2131", "2", "3", "4", "5", "6")


def card_valid(text: str) -> bool:
    """12-19 digits, a card network's prefix, and the Luhn check digit."""
    digits = digits_only(text)
    return 12 <= len(digits) <= 19 and digits.startswith(_CARD_PREFIXES) and luhn_valid(digits)
