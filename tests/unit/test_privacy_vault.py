"""The per-request vault and the pseudonymiser: round trips, and nothing original leaves."""

from __future__ import annotations

from outrigger.privacy import PLACEHOLDER, Pseudonymizer, RegexDetector, Vault

TICKET = (
    "Dr. Kavita Menon (kavita.menon@cityhospital.in, +91 98765 43210) says MRN: 00482913 "
    "belongs to Mr. Ramesh Iyer. Refund to UPI ramesh.iyer@okaxis, PAN ABCPE1234F, Aadhaar "
    "4991 1866 5246. Write to kavita.menon@cityhospital.in again tomorrow."
)
ORIGINALS = [
    "Kavita Menon",
    "kavita.menon@cityhospital.in",
    "+91 98765 43210",
    "00482913",
    "Ramesh Iyer",
    "ramesh.iyer@okaxis",
    "ABCPE1234F",
    "4991 1866 5246",
]


def test_placeholders_are_consistent_and_numbered_per_tag() -> None:
    vault = Vault()
    assert vault.placeholder("PERSON", "Asha Rao") == "<PERSON_1>"
    assert vault.placeholder("EMAIL_ADDRESS", "a@b.in") == "<EMAIL_1>"
    assert vault.placeholder("PERSON", "Vikram Rao") == "<PERSON_2>"
    assert vault.placeholder("PERSON", "Asha Rao") == "<PERSON_1>"
    assert vault.placeholder("US_DRIVER_LICENSE", "X123") == "<US_DRIVER_LICENSE_1>"
    assert len(vault) == 4
    assert vault.original("<PERSON_2>") == "Vikram Rao"
    assert vault.original("<PERSON_9>") is None


def test_rehydrate_replaces_known_placeholders_only() -> None:
    vault = Vault()
    vault.placeholder("PERSON", "Asha Rao")
    text = "<PERSON_1> and <PERSON_2> and <person_1> and <PERSON_1>."
    assert vault.rehydrate(text) == "Asha Rao and <PERSON_2> and <person_1> and Asha Rao."


def test_repr_never_shows_originals() -> None:
    vault = Vault()
    vault.placeholder("PERSON", "Asha Rao")
    assert "Asha" not in repr(vault)
    assert "Asha" not in str(vault)


def test_serialised_vault_round_trips_and_continues_numbering() -> None:
    vault = Vault()
    vault.placeholder("PERSON", "Asha Rao")
    vault.placeholder("PERSON", "Vikram Rao")
    vault.placeholder("IN_PAN", "ABCPE1234F")
    again = Vault.from_bytes(vault.to_bytes())
    assert again.rehydrate("<PERSON_2>, <PAN_1>") == "Vikram Rao, ABCPE1234F"
    assert again.placeholder("PERSON", "Asha Rao") == "<PERSON_1>"
    assert again.placeholder("PERSON", "New Person") == "<PERSON_3>"


def test_round_trip_through_an_upstream_that_never_sees_originals() -> None:
    received: list[str] = []

    def upstream(prompt: str) -> str:  # a stand-in LLM that echoes the placeholders it got
        received.append(prompt)
        found = PLACEHOLDER.findall(prompt)
        return "Summary: " + ", ".join(found)

    session = Pseudonymizer(RegexDetector())
    redacted = session.pseudonymize(TICKET)
    answer = upstream(redacted)
    for original in ORIGINALS:
        assert original not in received[0], original
    assert redacted.count("<EMAIL_1>") == 2  # the same email twice: one placeholder
    restored = session.rehydrate(answer)
    for original in ORIGINALS:
        assert original in restored, original
    assert session.rehydrate(redacted) == TICKET


def test_entity_subset_leaves_other_types() -> None:
    session = Pseudonymizer(RegexDetector(), entities=frozenset({"EMAIL_ADDRESS"}))
    out = session.pseudonymize("Dr. Asha Rao, asha@x.org")
    assert out == "Dr. Asha Rao, <EMAIL_1>"


def test_two_requests_get_independent_vaults() -> None:
    detector = RegexDetector()
    first, second = Pseudonymizer(detector), Pseudonymizer(detector)
    assert first.pseudonymize("a@x.org") == "<EMAIL_1>"
    assert second.pseudonymize("b@x.org") == "<EMAIL_1>"
    assert first.rehydrate("<EMAIL_1>") == "a@x.org"
    assert second.rehydrate("<EMAIL_1>") == "b@x.org"


def test_known_originals_are_replaced_even_where_detection_misses_them() -> None:
    session = Pseudonymizer(RegexDetector())
    assert session.pseudonymize("Dr. Asha Rao called.") == "Dr. <PERSON_1> called."
    # No cue before the name this time: the detector alone would miss it.
    assert session.pseudonymize("Asha Rao asked again; Asha Raol did not.") == (
        "<PERSON_1> asked again; Asha Raol did not."
    )
