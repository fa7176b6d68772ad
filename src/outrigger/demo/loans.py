"""A simulated loan-origination service: realistic ``LoanApplicationSubmitted`` events.

Applicants are drawn from the credit-risk model's held-out split (real applications from
the modeldata ``credit_data`` set, never seen in training) and written the way a core
banking service would: nested JSON, money in cents, its own vocabulary for categories.
"""

from __future__ import annotations

import csv
import json
import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from outrigger.bus.base import BusMessage
from outrigger.resources import bundled_root

EVENT_TYPE = "com.acme.loans.LoanApplicationSubmitted"
ROUTING_KEY = "loans.application.submitted"
SOURCE = "urn:acme:loan-origination"

_HOUSING = {
    "rent": "renting",
    "owner": "homeowner",
    "parents": "with_parents",
    "priv": "private",
    "other": "other",
    "ignore": "other",
}
_MARITAL = {
    "single": "single",
    "married": "married",
    "widow": "widowed",
    "separated": "separated",
    "divorced": "divorced",
}
_JOB = {"fixed": "permanent", "freelance": "freelance", "partime": "part_time", "others": "other"}


def holdout_rows(path: Path | None = None) -> list[dict[str, str]]:
    path = path or bundled_root() / "models" / "credit-risk" / "1.0.0" / "holdout.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return [{k.lower(): v for k, v in row.items()} for row in csv.DictReader(handle)]


def _number(row: dict[str, str], key: str) -> float | None:
    raw = row.get(key, "")
    try:
        value = float(raw)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _cents(value: float | None) -> int | None:
    return None if value is None else round(value * 100)


@dataclass
class LoanService:
    """Emits applications; ``rng`` makes a run reproducible."""

    rows: list[dict[str, str]]
    rng: random.Random

    def application(self) -> dict[str, Any]:
        row = self.rng.choice(self.rows)
        app_id = f"LA-{datetime.now(UTC):%Y}-{uuid.UUID(int=self.rng.getrandbits(128)).hex[:10]}"
        applicant: dict[str, Any] = {
            "age_years": int(_number(row, "age") or 30),
            "housing": _HOUSING.get(row.get("home", ""), "other"),
            "prior_default_records": row.get("records") == "yes",
            "employment": {
                "type": _JOB.get(row.get("job", ""), "other"),
                "years_with_employer": int(_number(row, "seniority") or 0),
            },
            "monthly_expenses_cents": _cents(_number(row, "expenses")),
        }
        if row.get("marital") in _MARITAL:
            applicant["marital_status"] = _MARITAL[row["marital"]]
        for key, name in (
            ("income", "monthly_income_cents"),
            ("assets", "assets_cents"),
            ("debt", "debt_cents"),
        ):
            cents = _cents(_number(row, key))
            if cents is not None:
                applicant[name] = cents
        loan = {
            "amount_cents": _cents(_number(row, "amount")),
            "goods_price_cents": _cents(_number(row, "price")),
            "term_months": int(_number(row, "time") or 36),
            "currency": "EUR",
        }
        return {"application_id": app_id, "applicant": applicant, "loan": loan}

    def cloudevent(self, binary: bool = False) -> tuple[str, BusMessage]:
        data = self.application()
        event_id = uuid.UUID(int=self.rng.getrandbits(128)).hex
        attrs = {
            "specversion": "1.0",
            "id": event_id,
            "source": SOURCE,
            "type": EVENT_TYPE,
            "subject": f"application/{data['application_id']}",
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "datacontenttype": "application/json",
        }
        if binary:
            headers = {f"cloudEvents_{k}": str(v) for k, v in attrs.items()}
            body = json.dumps(data).encode()
            return event_id, BusMessage(body, ROUTING_KEY, headers, event_id, "application/json")
        body = json.dumps({**attrs, "data": data}).encode()
        return event_id, BusMessage(body, ROUTING_KEY, {}, event_id, "application/cloudevents+json")
