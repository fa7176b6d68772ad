"""Streaming re-hydration: the output never depends on where the chunks were cut."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

from outrigger.privacy import StreamRehydrator, Vault


@pytest.fixture
def vault() -> Vault:
    vault = Vault()
    vault.placeholder("PERSON", "Asha Rao")
    vault.placeholder("EMAIL_ADDRESS", "asha@x.org")
    for i in range(12):  # <PERSON_2> … <PERSON_13>: prefixes of each other up to the digit
        vault.placeholder("PERSON", f"Person {i}")
    return vault


ANSWER = (
    "Dear <PERSON_1>, we wrote to <EMAIL_1>.<PERSON_1><PERSON_13> and <PERSON_1 and a <b>tag</b> "
    "and 3 < 4 > 2, <PERSON_9> <PERSON_99> <EMAIL_1"
)


def stream(vault: Vault, chunks: Iterable[str]) -> str:
    rehydrator = StreamRehydrator(vault)
    return "".join(rehydrator.feed(chunk) for chunk in chunks) + rehydrator.flush()


def test_unsplit(vault: Vault) -> None:
    out = stream(vault, [ANSWER])
    assert out == vault.rehydrate(ANSWER)
    assert "Dear Asha Rao, we wrote to asha@x.org.Asha RaoPerson 11 and <PERSON_1 and" in out
    assert "<PERSON_99>" in out  # unknown placeholders stay as they are


def test_every_single_split_point(vault: Vault) -> None:
    expected = vault.rehydrate(ANSWER)
    for i in range(len(ANSWER) + 1):
        assert stream(vault, [ANSWER[:i], ANSWER[i:]]) == expected, i


def test_every_pair_of_split_points(vault: Vault) -> None:
    text = "x <PERSON_1><EMAIL_1> <PERSON_13>."
    expected = vault.rehydrate(text)
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            assert stream(vault, [text[:i], text[i:j], text[j:]]) == expected, (i, j)


def test_character_by_character_and_random_chunkings(vault: Vault) -> None:
    expected = vault.rehydrate(ANSWER)
    assert stream(vault, list(ANSWER)) == expected
    rng = random.Random(11)
    for _ in range(300):
        cuts = sorted(rng.sample(range(len(ANSWER) + 1), rng.randint(1, 12)))
        chunks = [ANSWER[a:b] for a, b in zip([0, *cuts], [*cuts, len(ANSWER)], strict=True)]
        assert stream(vault, chunks) == expected


def test_holds_back_only_a_possible_placeholder(vault: Vault) -> None:
    rehydrator = StreamRehydrator(vault)
    assert rehydrator.feed("Hello <PER") == "Hello "
    assert rehydrator.feed("SON_1>, ") == "Asha Rao, "
    assert rehydrator.feed("a <b>") == "a <b>"  # no placeholder starts with "<b"
    assert rehydrator.feed("3 <") == "3 "
    assert rehydrator.feed(" 4") == "< 4"
    assert rehydrator.feed("<EMAIL_") == ""
    assert rehydrator.flush() == "<EMAIL_"


def test_empty_vault_passes_text_straight_through() -> None:
    rehydrator = StreamRehydrator(Vault())
    assert rehydrator.feed("<PER") == "<PER"
    assert rehydrator.flush() == ""
