"""Check digits: Verhoeff (Aadhaar), Luhn (cards), ISO 13616 (IBAN), SSN ranges."""

from __future__ import annotations

import random

import pytest

from outrigger.privacy.checksums import (
    aadhaar_valid,
    card_valid,
    iban_valid,
    luhn_valid,
    ssn_valid,
    verhoeff_check_digit,
    verhoeff_valid,
)


@pytest.mark.parametrize(
    ("body", "check"),
    [("236", "3"), ("12345", "1"), ("142857", "0"), ("8473643095483728456789", "2")],
)
def test_verhoeff_known_vectors(body: str, check: str) -> None:
    assert verhoeff_check_digit(body) == check
    assert verhoeff_valid(body + check)


def test_verhoeff_catches_every_single_digit_error_and_adjacent_transposition() -> None:
    rng = random.Random(5)
    for _ in range(200):
        body = "".join(str(rng.randint(0, 9)) for _ in range(11))
        number = body + verhoeff_check_digit(body)
        assert verhoeff_valid(number)
        i = rng.randrange(len(number))
        for digit in "0123456789":
            if digit != number[i]:
                assert not verhoeff_valid(number[:i] + digit + number[i + 1 :])
        j = rng.randrange(len(number) - 1)
        if number[j] != number[j + 1]:
            swapped = number[:j] + number[j + 1] + number[j] + number[j + 2 :]
            assert not verhoeff_valid(swapped)


def test_verhoeff_rejects_non_digits() -> None:
    assert not verhoeff_valid("")
    assert not verhoeff_valid("12a4")


def test_aadhaar_rules() -> None:
    assert aadhaar_valid("4991 1866 5246")
    assert aadhaar_valid("499118665246")
    assert not aadhaar_valid("4991 1866 5247")  # wrong check digit
    body = "12345678901"
    assert not aadhaar_valid(body + verhoeff_check_digit(body))  # starts with 1
    assert not aadhaar_valid("2345 6789 012")  # 11 digits


def test_luhn_and_cards() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert card_valid("4111 1111 1111 1111")
    assert card_valid("3782-822463-10005")  # Amex
    assert not card_valid("0000 0000 0000 0000")  # no network starts with 0
    assert not card_valid("4111 1111 1111 1112")


def test_iban() -> None:
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33")
    assert not iban_valid("GB82")


def test_ssn_ranges() -> None:
    assert ssn_valid("123-45-6788")
    for bad in ("000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000"):
        assert not ssn_valid(bad), bad
    assert not ssn_valid("078-05-1120")  # the Woolworth wallet card
