import math

import pytest

from outrigger.engine.mapping import MISSING, Field, resolve
from outrigger.errors import MappingError

ROOT = {
    "data": {
        "loan": {"amount_cents": 120050, "term": "36", "flag": "Yes"},
        "items": [{"sku": "a"}, {"sku": "b"}],
    },
    "steps": {"risk": {"score": 0.3}},
}


def test_resolve_paths_and_indexes() -> None:
    assert resolve(ROOT, "data.loan.amount_cents") == 120050
    assert resolve(ROOT, "data.items[1].sku") == "b"
    assert resolve(ROOT, "data.items[5].sku") is MISSING
    assert resolve(ROOT, "data.loan.nope") is MISSING
    assert resolve(ROOT, "data.loan.amount_cents.deeper") is MISSING


def test_units_scale_and_coercion() -> None:
    assert Field("a", "data.loan.amount_cents", unit="cents->units").extract(ROOT) == pytest.approx(
        1200.5
    )
    assert Field("t", "data.loan.term", kind="int").extract(ROOT) == 36
    assert Field("y", "data.loan.term", unit="months->years").extract(ROOT) == pytest.approx(3.0)
    assert Field("s", "data.loan.amount_cents", scale=0.5).extract(ROOT) == pytest.approx(60025)
    assert Field("b", "data.loan.flag", kind="bool").extract(ROOT) is True
    assert Field("x", "data.loan.amount_cents", kind="str").extract(ROOT) == "120050"


def test_defaults_and_required() -> None:
    assert math.isnan(Field("i", "data.loan.income", default=float("nan")).extract(ROOT))
    with pytest.raises(MappingError, match=r"data\.loan\.income"):
        Field("i", "data.loan.income").extract(ROOT)


def test_value_maps() -> None:
    housing = Field("h", "data.loan.flag", kind="str", lower=True, values={"yes": "owner"})
    assert housing.extract(ROOT) == "owner"
    strict = Field("h", "data.loan.flag", kind="str", values={"no": "x"})
    with pytest.raises(MappingError, match="not one of: no"):
        strict.extract(ROOT)
    fallback = Field("h", "data.loan.flag", kind="str", values={"no": "x", "*": "other"})
    assert fallback.extract(ROOT) == "other"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("abc", "float"),
        (True, "float"),
        ({"a": 1}, "float"),
        (float("inf"), "float"),
        ("1.5", "int"),
        ("maybe", "bool"),
        ([1], "str"),
    ],
)
def test_mistyped_values_raise_mapping_error(value: object, kind: str) -> None:
    with pytest.raises(MappingError):
        Field("f", "data.v", kind=kind).extract({"data": {"v": value}})
