import pytest

from outrigger.bus.topics import any_topic_matches, topic_matches


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("#", "a.b", True),
        ("#", "", True),
        ("a.#", "a", True),
        ("a.#", "a.b.c", True),
        ("a.#", "ab", False),
        ("#.b", "b", True),
        ("#.b", "a.b", True),
        ("#.b", "a.c", False),
        ("*.b", "a.b", True),
        ("*.b", "b", False),
        ("a.*", "a.b.c", False),
        ("a.*.c", "a.x.c", True),
        ("a.#.c", "a.c", True),
        ("a.#.c", "a.x.y.c", True),
        ("a.#.c", "a.x.y.d", False),
        ("loans.application.submitted", "loans.application.submitted", True),
        ("loans.application.submitted", "loans.application.approved", False),
    ],
)
def test_amqp_topic_semantics(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


def test_any_topic_matches() -> None:
    assert any_topic_matches(["x.*", "loans.#"], "loans.a.b")
    assert not any_topic_matches(["x.*"], "loans.a")
