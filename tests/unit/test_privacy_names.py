"""Standard mode: the bundled name tagger finds person names of many origins, at sentence
start, after titles, in lists and in lower case, and leaves capitalised non-names alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from outrigger.errors import ConfigError
from outrigger.privacy import PrivacyConfig, StandardDetector, open_detector
from outrigger.privacy.names import NameTagger, bundled_directory, token_features, tokenize


@pytest.fixture(scope="module")
def detector() -> StandardDetector:
    return StandardDetector.build()


def names(detector: StandardDetector, text: str) -> list[str]:
    return [text[s.start : s.end] for s in detector.detect(text) if s.entity_type == "PERSON"]


# Names from several origins, in positions the templates never used verbatim.
FOUND = [
    ("Please forward the report to Olusegun Adeyemi and Hiroshi Tanaka.",
     ["Olusegun Adeyemi", "Hiroshi Tanaka"]),
    ("We met Wei Zhang, Sofia Rossi and Krzysztof Nowak in Warsaw.",
     ["Wei Zhang", "Sofia Rossi", "Krzysztof Nowak"]),
    ("Anjali Deshmukh requested a callback about her home loan.", ["Anjali Deshmukh"]),
    ("Kwame Mensah called from Accra about his pension.", ["Kwame Mensah"]),
    ("Spoke to Jean-Pierre Dubois about the invoice.", ["Jean-Pierre Dubois"]),
    ("Maria José García and João Silva signed the contract.", ["Maria José García", "João Silva"]),
    ("Ji-hoon Park and Min-jun Kim joined the team.", ["Ji-hoon Park", "Min-jun Kim"]),
    ("Contact Bjørn Andersen or Siobhan O'Sullivan for approvals.",
     ["Bjørn Andersen", "Siobhan O'Sullivan"]),
    ("The patient, Mrs. Lakshmi Venkataraman, was seen in March.", ["Lakshmi Venkataraman"]),
    ("Ravi, Sunil and Deepa are on leave next week.", ["Ravi", "Sunil", "Deepa"]),
    ("Venkatesh Subramanian's PAN was rejected.", ["Venkatesh Subramanian"]),
    ("thanks priya, will check tomorrow", ["priya"]),  # lower case: found less reliably
    ("Eleanor Whitfield-Hughes chairs the board.", ["Eleanor Whitfield-Hughes"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_names_of_many_origins_are_found(
    detector: StandardDetector, text: str, expected: list[str]
) -> None:
    assert names(detector, text) == expected


NOT_NAMES = [
    "The March invoice from Amazon was paid in London on Friday.",
    "My Visa card was declined at Walmart in Houston last April.",
    "The Apple Watch and the Samsung Galaxy both failed to sync.",
    "Customer Service in Mumbai closed the ticket in June.",
    "Our flight to New Delhi via Dubai was cancelled.",
    "Thank you for contacting Outrigger Bank.",
    "KYC: PAN and Aadhaar verified, UPI mandate pending.",
    "Please reset my password, the OTP never arrived.",
    "How long does a refund to my credit card take?",  # "Long" is a surname, "long" is not
]


@pytest.mark.parametrize("text", NOT_NAMES)
def test_capitalised_words_that_are_not_names_are_left_alone(
    detector: StandardDetector, text: str
) -> None:
    assert names(detector, text) == []


def test_known_false_positives_are_documented(detector: StandardDetector) -> None:
    # Honest limits (docs/privacy.md): an unknown capitalised word opening a sentence, before
    # a verb people do, reads as a name, and so does a firm named after people; a
    # pseudonymised product or firm costs a placeholder, a missed name would leak.
    assert names(detector, "Zendesk said the export failed.") == ["Zendesk"]
    assert names(detector, "Grant Thornton audited the accounts.") == ["Grant Thornton"]


def test_structured_identifiers_win_over_a_name_guess(detector: StandardDetector) -> None:
    text = "Dr. Kavita Menon, MRN 00482913, born on 12/03/1985, email kavita@example.com"
    found = {(s.entity_type, text[s.start : s.end]) for s in detector.detect(text)}
    assert ("PERSON", "Kavita Menon") in found
    assert ("MEDICAL_RECORD_NUMBER", "00482913") in found
    assert ("DATE_OF_BIRTH", "12/03/1985") in found
    assert ("EMAIL_ADDRESS", "kavita@example.com") in found


def test_entities_filter_skips_the_tagger(detector: StandardDetector) -> None:
    text = "Priya Sharma wrote from priya@example.com"
    assert [s.entity_type for s in detector.detect(text, frozenset({"EMAIL_ADDRESS"}))] == [
        "EMAIL_ADDRESS"
    ]
    assert [s.entity_type for s in detector.detect(text, frozenset({"PERSON"}))] == ["PERSON"]


def test_text_without_a_candidate_skips_the_model(detector: StandardDetector) -> None:
    assert detector.tagger.spans("the refund of 250 is still pending, ticket 7781") == []
    assert detector.tagger.spans("") == []


def model_runs(tagger: NameTagger, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gains an item each time the tagger runs its model."""
    ran: list[int] = []
    real = tagger.probabilities
    monkeypatch.setattr(tagger, "probabilities", lambda tokens: ran.append(1) or real(tokens))
    return ran


def test_capitals_that_only_open_sentences_skip_the_model(
    detector: StandardDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    tagger = detector.tagger
    ran = model_runs(tagger, monkeypatch)
    for text in (
        "What is the status of my card replacement? My reference is 100123.",
        "Please check it again. Can you explain why?",
    ):
        assert tagger.spans(text) == []
    assert ran == []  # sentence-opening common words only: the model never ran
    for text, name in (
        ("What did Okonkwo say about the fee?", "Okonkwo"),  # a capital mid-sentence
        ("Priya wrote again. Can you help?", "Priya"),  # the gazetteer knows it
    ):
        assert [text[s.start : s.end] for s in tagger.spans(text)] == [name]
    assert len(ran) == 2


def test_words_that_can_never_be_kept_as_names_skip_the_model(
    detector: StandardDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pronoun "I", and lower-case words the gazetteer lists as names but that are common
    English words ("price", "soon", "line"): the decision never keeps them, so they do not
    make the model run; a lower-case name that is not a common word still does."""
    tagger = detector.tagger
    lexicon = tagger._lexicon
    listed = ("price", "soon", "line", "way")
    assert all(lexicon.name_class(w) != "-" and w in lexicon.common for w in listed)
    ran = model_runs(tagger, monkeypatch)
    for text in (
        "How do I raise the daily limit on my debit card?",
        "the price will drop soon, and the line is long in a way I did not expect",
    ):
        assert tagger.spans(text) == []
    assert ran == []
    assert lexicon.name_class("priya") != "-" and "priya" not in lexicon.common
    tagger.spans("please ask priya about the statement")
    assert ran == [1]


def test_the_pronoun_is_never_a_name_even_when_the_model_runs(detector: StandardDetector) -> None:
    text = "Yesterday I spoke to Okonkwo and I asked Priya Nair about it."
    names = [text[s.start : s.end] for s in detector.tagger.spans(text)]
    assert "I" not in names and "Okonkwo" in names


def test_cached_feature_ids_equal_the_training_features(detector: StandardDetector) -> None:
    tagger = detector.tagger
    vocab = tagger._vocab  # the string path is what training used
    for text in [t for t, _ in FOUND] + NOT_NAMES + ["A", "x y", "Dr. R. K. Narayan's card"]:
        tokens = [m.group() for m in tokenize(text)]
        rows = token_features(tokens, tagger._lexicon)
        ids = tagger.feature_ids(tokens)
        width = len(ids) // len(tokens)
        for i, row in enumerate(rows):
            expected = sorted(vocab.get(f, 0) for f in row)
            assert sorted(ids[i * width : (i + 1) * width]) == expected, (text, tokens[i])


def test_tokens_split_possessives_and_keep_initials() -> None:
    tokens = [m.group() for m in tokenize("Dr. R. K. Narayan's O'Brien-Smith")]
    assert tokens == ["Dr", ".", "R.", "K.", "Narayan", "'", "s", "O'Brien-Smith"]


def test_a_damaged_model_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "1.0.0"
    shutil.copytree(bundled_directory(), copy)
    meta = json.loads((copy / "metadata.json").read_text())
    meta["sha256"] = "0" * 64
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="SHA-256"):
        NameTagger.load(copy)


def test_standard_is_the_default_mode_and_needs_no_extra() -> None:
    assert PrivacyConfig().default.mode == "standard"
    assert isinstance(open_detector(PrivacyConfig()), StandardDetector)


@pytest.mark.parametrize(
    "override",
    [
        {"default": {"mode": "fast"}},
        {"features": {"triage": {"mode": "fast"}}},
        {"features": {"triage": {"enabled": False}}},
        {"events_mode": "fast"},
    ],
)
def test_require_names_refuses_modes_that_miss_names(override: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="require_names"):
        PrivacyConfig.model_validate({"require_names": True, **override})


def test_require_names_accepts_standard_and_full() -> None:
    config = PrivacyConfig.model_validate(
        {
            "require_names": True,
            "default": {"mode": "standard"},
            "features": {"clinical": {"mode": "full"}},
            "events_mode": "standard",
        }
    )
    assert config.policy_for("clinical").mode == "full"
