"""Generate the labelled PII sets used by ``benchmarks/pii_eval.py`` (deterministic).

    python benchmarks/data/make_pii_set.py [--n 1000] [--seed 7]

Writes ``pii_synthetic.jsonl`` (templates in ``pii_templates.txt`` filled by Faker, seeded),
``pii_handwritten.jsonl`` and ``pii_holdout.jsonl`` (from the ``.txt`` files of the same name:
spans from the ``[[TYPE|value]]`` markup).
Needs ``faker`` (dev only); the benchmark itself reads the committed JSONL files.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faker import Faker

from outrigger.privacy.checksums import verhoeff_check_digit

HERE = Path(__file__).parent
SLOT = re.compile(r"\{([A-Za-z_]+)\}")
MARK = re.compile(r"\[\[([A-Z_]+)\|(.+?)\]\]")
UPI_HANDLES = ["okaxis", "oksbi", "ybl", "paytm", "okicici", "ibl", "axl", "upi", "hdfcbank"]
BANKS = ["SBIN", "HDFC", "ICIC", "UTIB", "PUNB", "KKBK", "BARB", "CNRB", "YESB", "IDIB"]


def _aadhaar(rng: random.Random) -> str:
    while True:
        body = str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(10))
        number = body + verhoeff_check_digit(body)
        if number != number[::-1]:
            break
    return rng.choice([f"{number[:4]} {number[4:8]} {number[8:]}", number])


def _group4(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


class Values:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in ("en_US", "en_IN", "en_GB", "de_DE")}
        for i, fake in enumerate(self.fakers.values()):
            fake.seed_instance(seed + i)

    def fake(self, *locales: str) -> Faker:
        return self.fakers[self.rng.choice(locales)]

    def value(self, slot: str) -> str:
        maker: Callable[[], str] = getattr(self, slot.lower())
        return maker()

    def person(self) -> str:
        fake = self.fake("en_US", "en_IN", "en_GB")
        return f"{fake.first_name()} {fake.last_name()}"

    def email_address(self) -> str:
        return str(self.fake("en_US", "en_IN", "en_GB").email())

    def phone_number(self) -> str:
        rng = self.rng
        mobile = f"{rng.randint(6, 9)}{rng.randint(1000, 9999)}{rng.randint(10000, 99999)}"
        area, mid, last = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
        return rng.choice(
            [
                f"+91 {mobile[:5]} {mobile[5:]}",
                f"{mobile[:5]} {mobile[5:]}",
                f"+91{mobile}",
                f"({area}) {mid}-{last:04d}",
                f"{area}-{mid}-{last:04d}",
                f"+1 {area} {mid} {last:04d}",
                f"+44 20 {rng.randint(7000, 8999)} {rng.randint(1000, 9999)}",
            ]
        )

    def credit_card(self) -> str:
        number = str(self.fakers["en_US"].credit_card_number())
        return _group4(number) if len(number) == 16 and self.rng.random() < 0.5 else number

    def iban_code(self) -> str:
        iban = str(self.fake("en_GB", "de_DE").iban())
        return _group4(iban) if self.rng.random() < 0.5 else iban

    def ip_address(self) -> str:
        fake = self.fakers["en_US"]
        return str(fake.ipv6() if self.rng.random() < 0.25 else fake.ipv4())

    def us_ssn(self) -> str:
        return str(self.fakers["en_US"].ssn())

    def in_pan(self) -> str:
        return str(self.fakers["en_IN"].pan())

    def in_aadhaar(self) -> str:
        return _aadhaar(self.rng)

    def medical_record_number(self) -> str:
        digits = "".join(str(self.rng.randint(0, 9)) for _ in range(self.rng.randint(7, 8)))
        return self.rng.choice([digits, f"MR-{digits}", f"H{digits}"])

    def upi_id(self) -> str:
        fake = self.fakers["en_IN"]
        local = self.rng.choice(
            [
                f"{fake.first_name().lower()}.{fake.last_name().lower()}",
                str(self.rng.randint(6000000000, 9999999999)),
                f"{fake.first_name().lower()}{self.rng.randint(1, 99)}",
            ]
        )
        return f"{local}@{self.rng.choice(UPI_HANDLES)}"

    def in_ifsc(self) -> str:
        return f"{self.rng.choice(BANKS)}0{self.rng.randint(0, 999999):06d}"

    # Unlabelled noise.
    def order(self) -> str:
        return self.rng.choice(
            [f"#{self.rng.randint(100000, 999999)}", f"ORD-{self.rng.randint(10000, 99999)}"]
        )

    def amount(self) -> str:
        return self.rng.choice(
            [
                f"${self.rng.randint(5, 5000)}.{self.rng.randint(0, 99):02d}",
                f"₹{self.rng.randint(100, 99999):,}",
            ]
        )

    def date(self) -> str:
        return str(
            self.fakers["en_US"].date(pattern=self.rng.choice(["%d/%m/%Y", "%Y-%m-%d", "%B %d"]))
        )

    def time(self) -> str:
        return f"{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}"

    def ticket(self) -> str:
        return self.rng.choice(
            [
                f"INC{self.rng.randint(1000000, 9999999)}",
                f"TKT-{self.rng.randint(1000, 99999)}",
                str(self.rng.randint(100000, 999999)),
            ]
        )

    def version(self) -> str:
        return f"{self.rng.randint(1, 12)}.{self.rng.randint(0, 20)}.{self.rng.randint(0, 99)}"

    def zip(self) -> str:
        return str(self.rng.randint(10000, 999999))

    def qty(self) -> str:
        return str(self.rng.randint(2, 9999))


def fill(template: str, values: Values) -> dict[str, Any]:
    text, spans, last = "", [], 0
    for match in SLOT.finditer(template):
        text += template[last : match.start()]
        slot = match[1]
        value = values.value(slot)
        if slot.isupper():
            spans.append({"start": len(text), "end": len(text) + len(value), "type": slot})
        text += value
        last = match.end()
    return {"text": text + template[last:], "spans": spans}


def unmark(line: str) -> dict[str, Any]:
    text, spans, last = "", [], 0
    for match in MARK.finditer(line):
        text += line[last : match.start()]
        spans.append({"start": len(text), "end": len(text) + len(match[2]), "type": match[1]})
        text += match[2]
        last = match.end()
    return {"text": text + line[last:], "spans": spans}


def lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def write(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("w") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    templates = lines(HERE / "pii_templates.txt")
    values = Values(args.seed)
    synthetic = [fill(values.rng.choice(templates), values) for _ in range(args.n)]
    write(HERE / "pii_synthetic.jsonl", synthetic)
    for name in ("pii_handwritten", "pii_holdout"):
        write(HERE / f"{name}.jsonl", [unmark(ln) for ln in lines(HERE / f"{name}.txt")])
    print(f"wrote {len(synthetic)} synthetic and the hand-written records to {HERE}")


if __name__ == "__main__":
    main()
