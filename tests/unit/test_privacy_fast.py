"""Fast mode: every structured type found by regex + checksum, identifier-like noise not."""

from __future__ import annotations

import pytest

from outrigger.privacy import RegexDetector, Span
from outrigger.privacy.base import resolve_overlaps

CASES = [
    ("Write to priya.sharma@example.co.in today", "EMAIL_ADDRESS", "priya.sharma@example.co.in"),
    ("Call +91 98765 43210 after six", "PHONE_NUMBER", "+91 98765 43210"),
    ("Call (212) 555-0187 after six", "PHONE_NUMBER", "(212) 555-0187"),
    ("Card 4111 1111 1111 1111 was declined", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("IBAN GB82 WEST 1234 5698 7654 32 please", "IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
    ("Blocked 192.168.1.20.", "IP_ADDRESS", "192.168.1.20"),
    ("Blocked fe80::1ff:fe23:4567:890a today", "IP_ADDRESS", "fe80::1ff:fe23:4567:890a"),
    ("SSN 123-45-6788 on file", "US_SSN", "123-45-6788"),
    ("PAN ABCPE1234F attached", "IN_PAN", "ABCPE1234F"),
    ("Aadhaar 4991 1866 5246 attached", "IN_AADHAAR", "4991 1866 5246"),
    ("MRN: 00482913, admitted", "MEDICAL_RECORD_NUMBER", "00482913"),
    ("UHID AIIMS2024001 referred", "MEDICAL_RECORD_NUMBER", "AIIMS2024001"),
    ("pay to priya@okaxis now", "UPI_ID", "priya@okaxis"),
    ("IFSC HDFC0001234 is wrong", "IN_IFSC", "HDFC0001234"),
    ("Dr. Kavita Menon will call", "PERSON", "Kavita Menon"),
    ("DOB: 12/03/1985, admitted", "DATE_OF_BIRTH", "12/03/1985"),
    ("born on 1985-03-12 in Pune", "DATE_OF_BIRTH", "1985-03-12"),
    ("Date of birth (as recorded): 12th of March, 1985.", "DATE_OF_BIRTH", "12th of March, 1985"),
    ("d.o.b. March 12, 1985", "DATE_OF_BIRTH", "March 12, 1985"),
    ("born 31-Dec-1990", "DATE_OF_BIRTH", "31-Dec-1990"),
    ("her birthday is 05/06/77", "DATE_OF_BIRTH", "05/06/77"),
    ("जन्म तिथि: 12.03.1985", "DATE_OF_BIRTH", "12.03.1985"),
    ("DOB: 12/03/1985 45 years old", "DATE_OF_BIRTH", "12/03/1985"),
    ("born 12 Mar 85 in Pune", "DATE_OF_BIRTH", "12 Mar 85"),
    ("dob 12/Mar/1985", "DATE_OF_BIRTH", "12/Mar/1985"),
    ("DOB Mar-12-1985", "DATE_OF_BIRTH", "Mar-12-1985"),
]


@pytest.mark.parametrize(("text", "entity", "value"), CASES)
def test_finds_each_type(text: str, entity: str, value: str) -> None:
    spans = RegexDetector().detect(text)
    assert [(s.entity_type, text[s.start : s.end]) for s in spans] == [(entity, value)]


@pytest.mark.parametrize(
    "text",
    [
        "Order 45821 shipped on 14/02/2024 to pincode 560034.",
        "Firmware 10.2.3.4 fixed ticket 772190 at 10:30:00.",
        "Aadhaar 4991 1866 5247 (wrong check digit)",
        "Card 4111 1111 1111 1112 (fails Luhn)",
        "Invoice INV-2024-00981 for 12,450 is due on 30 April 2024.",
        "order 12345678 shipped; reference 00482913",  # an MRN shape without MRN context
        "Meeting on 12/03/2024 about the loan",  # a date, not a birth date
        "born on 45/03/1985 or 1985-13-40",  # not dates
        # Birth words inside other words are not birth words:
        "Charges borne by the customer from 12/03/2024",
        "The stubborn ticket from 12/03/2024",
        "Adobe invoice dated 12/03/2024",
        "Airborne freight shipped 01 March 2024",
    ],
)
def test_leaves_noise_alone(text: str) -> None:
    assert RegexDetector().detect(text) == []


def test_phone_after_plus_is_not_an_aadhaar() -> None:
    text = "Reach me on +918830147302 after 05:39."
    spans = RegexDetector().detect(text)
    assert [(s.entity_type, text[s.start : s.end]) for s in spans] == [
        ("PHONE_NUMBER", "+918830147302")
    ]


def test_entities_filter() -> None:
    text = "mail a@b.com or call +91 98765 43210"
    spans = RegexDetector().detect(text, frozenset({"PHONE_NUMBER"}))
    assert [s.entity_type for s in spans] == ["PHONE_NUMBER"]


def test_overlaps_keep_the_identifier_over_a_name_guess() -> None:
    name = Span(0, 12, "PERSON", 0.95)
    mrn = Span(4, 12, "MEDICAL_RECORD_NUMBER", 0.6)
    other = Span(20, 25, "PERSON", 0.85)
    assert resolve_overlaps([name, mrn, other]) == [mrn, other]
    assert resolve_overlaps([Span(0, 5, "IP_ADDRESS", 0.5), Span(0, 9, "IP_ADDRESS", 0.9)]) == [
        Span(0, 9, "IP_ADDRESS", 0.9)
    ]


def test_only_the_date_a_birth_word_introduces_is_a_date_of_birth() -> None:
    text = "Patient born on 12/03/1985 was admitted on 14/05/2024."
    spans = RegexDetector().detect(text)
    assert [(s.entity_type, text[s.start : s.end]) for s in spans] == [
        ("DATE_OF_BIRTH", "12/03/1985")
    ]
